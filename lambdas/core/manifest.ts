import { RegistryError } from './errors';
import { tryParseDigest } from './digest';
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES, SCHEMA1_TYPES, isManifestMediaType, isNonDistributable } from './media-types';

/** 4 MiB: the spec asks registries to accept at least this much, and ECR's quota is the same. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

/** What the registry needs to know about a manifest to store, link and list it. */
export interface ParsedManifest {
  /** The media type the manifest is stored and served with. */
  mediaType: string;
  kind: 'image' | 'index';
  /** Blobs that must exist in the repository (config and distributable layers). */
  blobs: string[];
  /** Manifests an index points to, which must exist in the repository. */
  children: string[];
  subject?: Descriptor;
  /** `artifactType`, falling back to the config's media type, as the referrers API reports it. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${where}: annotations must be an object of strings`);
  }
  return value as Record<string, string>;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isPlainObject(value)) throw invalid(`${where}: descriptor must be an object`);
  const { mediaType, digest, size, artifactType, urls } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}: mediaType must be a non-empty string`);
  if (typeof digest !== 'string' || !tryParseDigest(digest)) throw invalid(`${where}: digest is not a valid sha256 or sha512 digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}: size must be a non-negative integer`);
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}: artifactType must be a string`);
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) throw invalid(`${where}: urls must be an array of strings`);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(value.annotations !== undefined ? { annotations: readAnnotations(value.annotations, where) } : {}),
    ...(urls !== undefined ? { urls: urls as string[] } : {}),
    ...(value.platform !== undefined ? { platform: value.platform } : {}),
  };
}

/**
 * Works out the media type to store: the body's own `mediaType` wins, the request's
 * `Content-Type` must agree with it, and only where both are absent is the shape used.
 */
function resolveMediaType(body: Record<string, unknown>, contentType: string | undefined): string {
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (body.mediaType !== undefined && declared === undefined) throw invalid('mediaType must be a string');
  const header = contentType?.split(';')[0].trim().toLowerCase() || undefined;
  for (const t of [declared, header]) {
    if (t && SCHEMA1_TYPES.has(t)) {
      throw invalid('Docker schema 1 manifests are not supported: push with a client that writes schema 2 or OCI manifests');
    }
  }
  if (declared && header && isManifestMediaType(header) && header !== declared) {
    throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  const mediaType = declared ?? (header && isManifestMediaType(header) ? header : undefined) ?? guessFromShape(body);
  if (!isManifestMediaType(mediaType)) {
    throw invalid(`unsupported manifest media type ${mediaType}`, { mediaType });
  }
  return mediaType;
}

function guessFromShape(body: Record<string, unknown>): string {
  if (Array.isArray(body.manifests)) return 'application/vnd.oci.image.index.v1+json';
  if (body.config !== undefined) return 'application/vnd.oci.image.manifest.v1+json';
  throw invalid('cannot tell the manifest type: send a Content-Type or a mediaType field');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses and validates a manifest body; refuses anything the registry could not serve back faithfully. */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  let text: string;
  try {
    // JSON is UTF-8 (RFC 8259 8.1); a lenient decode would turn each invalid byte into a
    // three-byte U+FFFD, and a listing of such descriptors would outgrow every size bound.
    text = UTF8.decode(bytes);
  } catch {
    throw invalid('manifest is not valid UTF-8');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('manifest is not well-formed JSON');
  }
  if (!isPlainObject(body)) throw invalid('manifest must be a JSON object');
  if (body.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported: push with a client that writes schema 2 or OCI manifests');
  }
  if (body.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const mediaType = resolveMediaType(body, contentType);
  const subject = body.subject === undefined ? undefined : parseDescriptor(body.subject, 'subject');
  const annotations = readAnnotations(body.annotations, 'manifest');
  if (body.artifactType !== undefined && typeof body.artifactType !== 'string') throw invalid('artifactType must be a string');
  const declaredArtifactType = body.artifactType as string | undefined;

  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(body.manifests)) throw invalid('an image index must have a manifests array');
    const manifests = body.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`));
    return { mediaType, kind: 'index', blobs: [], children: unique(manifests.map((m) => m.digest)), subject, artifactType: declaredArtifactType, annotations };
  }
  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    if (body.config === undefined) throw invalid('an image manifest must have a config descriptor');
    const config = parseDescriptor(body.config, 'config');
    if (body.layers !== undefined && !Array.isArray(body.layers)) throw invalid('layers must be an array');
    const layers = ((body.layers as unknown[] | undefined) ?? []).map((l, i) => parseDescriptor(l, `layers[${i}]`));
    const blobs = [config, ...layers].filter((d) => !isNonDistributable(d.mediaType) && !(d.urls && d.urls.length > 0)).map((d) => d.digest);
    return {
      mediaType,
      kind: 'image',
      blobs: unique(blobs),
      children: [],
      subject,
      artifactType: declaredArtifactType ?? config.mediaType,
      annotations,
    };
  }
  throw invalid(`unsupported manifest media type ${mediaType}`);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
