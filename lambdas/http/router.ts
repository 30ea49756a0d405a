/**
 * The transport-neutral OCI Distribution router: it turns an HttpRequest into calls on the
 * Registry and the results into HttpResponses. node:http (local mode, the ingest service)
 * and the Lambda handlers both sit in front of it.
 */
import { RegistryError, type ErrorKind } from '../core/errors';
import type { Registry, ListPage } from '../core/registry';
import type { StatsReport } from '../core/registry-stats';
import { uploadRangeHeader } from '../core/ranges';
import { silentLogger, type Logger } from '../core/log';
import { API_VERSION_HEADER, json, renderError } from './render';
import { readBody, limitBody } from './body';
import { anonymousAuthenticator, type Authenticator } from './auth';
import type { UploadTokens } from '../core/upload-tokens';
import type { BlobDownloadTokens } from '../core/download-tokens';

/** The query parameter of a signed download URL (local mode's GetDownloadUrlForLayer). */
export const DOWNLOAD_TOKEN_PARAM = 'download-token';
import { OCI_ROUTES, ociRouteOf, matchOciRoute, methodsOf, type OciMethodOf, type OciRoute, type OciRouteKind } from '../contracts/oci-routes';
import type { AccessControl } from './access-control';
import type { Handler, HttpRequest, HttpResponse } from './types';

export interface RouterOptions {
  registry: Registry;
  log?: Logger;
  /**
   * Authenticates requests that arrive without an identity (a Lambda authorizer sets one
   * before the router runs). A request it refuses gets 401 with its challenge.
   * @default everyone is anonymous
   */
  authenticator?: Authenticator;
  /**
   * `registry` serves the whole API; `ingest` serves only upload sessions, each authorized by
   * the token in its URL (the ingest host, where containerd sends no Authorization).
   * @default 'registry'
   */
  role?: 'registry' | 'ingest';
  /** Signs and checks upload tokens: needed by the ingest role and by `ingestUrl`. */
  uploadTokens?: UploadTokens;
  /**
   * Checks the signed download URLs of local mode's GetDownloadUrlForLayer: a blob GET or HEAD
   * carrying `download-token` is served on the token alone, as a presigned S3 URL would be.
   * @default such URLs are not served
   */
  downloadTokens?: BlobDownloadTokens;
  /** Base URL of an ingest host: new upload sessions are handed out there, with a token. */
  ingestUrl?: string;
  /**
   * Largest request body an upload request may carry (Lambda's payload limit); larger ones
   * get 413 and the limit is advertised as `OCI-Chunk-Max-Length`. @default no limit
   */
  maxChunkBytes?: number;
  /**
   * The ECR JSON API (lambdas/http/ecr-api.ts): `POST /` with an `X-Amz-Target` header is handed to
   * it before /v2 authentication, since it authenticates its own callers (SigV4, or the IAM principal
   * API Gateway verified) and answers in the AWS JSON protocol. @default no control plane (404)
   */
  controlPlane?: Handler;
  /**
   * Authorizes each request against the policies (lambdas/http/access-control.ts); its
   * `canPull` must be the Registry's. @default none: whoever is authenticated may do everything
   */
  accessControl?: AccessControl;
  /** The Docker token flow's endpoint at `/v2/token` (lambdas/http/token-service.ts), served before authentication. */
  tokenService?: Handler;
  /**
   * The figures of `GET /v2/_berth/stats` (`berth stats`): local mode counts them over its store;
   * `visible` filters repositories by the caller's permission. @default none: the route answers
   * UNSUPPORTED (on AWS the garbage collector publishes them as CloudWatch metrics)
   */
  stats?: (options: { repository?: string; visible?: (names: string[]) => Promise<string[]> }) => Promise<StatsReport>;
}

type RouteHandler = (request: HttpRequest, params: Record<string, string>) => Promise<HttpResponse>;

/** The Location of upload session `id` on an ingest host, its token in the query: what `POST .../blobs/uploads/` answers there (a replication's large blob gets the same). */
export function ingestUploadLocation(ingestUrl: string, tokens: UploadTokens, name: string, id: string): string {
  return `${ingestUrl.replace(/\/+$/, '')}/v2/${name}/blobs/uploads/${id}?${new URLSearchParams({ token: tokens.issue(name, id) })}`;
}

/** A handler for each method of each route of the contract (lambdas/contracts/oci-routes.ts), no more, no fewer. */
type RouteHandlers = { [K in OciRouteKind]: { [M in OciMethodOf<K>]: RouteHandler } };

export function createRouter(options: RouterOptions): Handler {
  const registry = options.registry;
  const log = options.log ?? silentLogger;
  const role = options.role ?? 'registry';
  const authenticator = options.authenticator ?? anonymousAuthenticator;
  const tokens = options.uploadTokens;
  if ((role === 'ingest' || options.ingestUrl !== undefined) && !tokens) throw new Error('an ingest host needs uploadTokens');
  const ingestUrl = options.ingestUrl?.replace(/\/+$/, '');
  const chunkLimitHeader: Record<string, string> = options.maxChunkBytes !== undefined ? { 'OCI-Chunk-Max-Length': String(options.maxChunkBytes) } : {};

  /** Where a client continues an upload: on the ingest host (with a token) when there is one. */
  const uploadLocation = (name: string, id: string, request: HttpRequest) => {
    const path = `/v2/${name}/blobs/uploads/${id}`;
    if (role === 'ingest') return `${path}?${new URLSearchParams({ token: request.query.get('token') ?? '' })}`;
    if (ingestUrl !== undefined) return ingestUploadLocation(ingestUrl, tokens!, name, id);
    return path;
  };
  const blobLocation = (name: string, digest: string) => `/v2/${name}/blobs/${digest}`;

  const uploadStatus = (request: HttpRequest, name: string, id: string, offset: number, status: number): HttpResponse => ({
    status,
    headers: {
      Location: uploadLocation(name, id, request),
      Range: uploadRangeHeader(offset),
      'Docker-Upload-UUID': id,
      'OCI-Chunk-Min-Length': String(registry.chunkMinLength),
      ...chunkLimitHeader,
      'Content-Length': '0',
    },
  });

  const blobCreated = (name: string, digest: string): HttpResponse => ({
    status: 201,
    headers: { Location: blobLocation(name, digest), 'Docker-Content-Digest': digest, 'Content-Length': '0' },
  });

  /** Errors of an upload route tell the client where the upload is, so it can ask for its status. */
  const withUploadLocation = async (request: HttpRequest, name: string, id: string, work: () => Promise<HttpResponse>): Promise<HttpResponse> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof RegistryError && err.status === 416) {
        throw new RegistryError(err.kind, err.message, err.detail, { ...err.headers, Location: uploadLocation(name, id, request), 'Docker-Upload-UUID': id });
      }
      throw err;
    }
  };

  const chunk = (request: HttpRequest) => {
    const length = contentLength(request);
    const limit = options.maxChunkBytes;
    if (limit !== undefined && length !== undefined && length > limit) throw chunkTooLarge(limit);
    return {
      body: limit !== undefined && request.body ? limitBody(request.body, limit, () => chunkTooLarge(limit)) : request.body,
      contentRange: request.headers['content-range'],
      contentLength: length,
    };
  };

  const handlers: RouteHandlers = {
    base: {
      GET: async () => json(200, {}),
      HEAD: async () => json(200, {}),
    },
    catalog: {
      GET: async (request) => {
        const page = await registry.listRepositories(request.query.get('n') ?? undefined, request.query.get('last') ?? undefined);
        const repositories = options.accessControl ? await options.accessControl.filterCatalog(request, page.items) : page.items;
        return json(200, { repositories }, nextLink('/v2/_catalog', page));
      },
    },
    stats: {
      GET: async (request) => {
        if (!options.stats) {
          throw new RegistryError('UNSUPPORTED', "this deployment does not count its storage per request: on AWS the figures are the garbage collector's CloudWatch metrics");
        }
        const access = options.accessControl;
        const visible = access ? (names: string[]) => access.filterCatalog(request, names) : undefined;
        return json(200, await options.stats({ repository: request.query.get('repository') ?? undefined, visible }));
      },
    },
    'tags-list': {
      GET: async (request, { name }) => {
        const page = await registry.listTags(name, request.query.get('n') ?? undefined, request.query.get('last') ?? undefined);
        return json(200, { name, tags: page.items }, nextLink(`/v2/${name}/tags/list`, page));
      },
    },
    manifest: {
      GET: async (request, { name, reference }) => {
        const pulledBy = request.identity?.principal?.arn;
        const manifest = await registry.getManifest(name, reference, pulledBy !== undefined ? { pulledBy } : {});
        return { status: 200, headers: manifestHeaders(manifest), body: manifest.body };
      },
      HEAD: async (_request, { name, reference }) => {
        const manifest = await registry.statManifest(name, reference);
        return { status: 200, headers: manifestHeaders(manifest) };
      },
      PUT: async (request, { name, reference }) => {
        const declared = contentLength(request);
        if (declared !== undefined && declared > registry.maxManifestBytes) {
          throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than ${registry.maxManifestBytes} bytes`);
        }
        const body = await readBody(request.body, registry.maxManifestBytes, 'MANIFEST_TOO_LARGE');
        const result = await registry.putManifest(name, reference, body, request.headers['content-type']);
        const headers: Record<string, string> = {
          Location: `/v2/${name}/manifests/${result.digest}`,
          'Docker-Content-Digest': result.digest,
          'Content-Length': '0',
        };
        if (result.subject) headers['OCI-Subject'] = result.subject;
        return { status: 201, headers };
      },
      DELETE: async (_request, { name, reference }) => {
        await registry.deleteManifest(name, reference);
        return { status: 202, headers: { 'Content-Length': '0' } };
      },
    },
    'upload-start': {
      POST: async (request, { name }) => {
        const mount = request.query.get('mount');
        if (mount !== null) {
          const mounted = await registry.mountBlob(name, mount, request.query.get('from') ?? undefined);
          if (mounted) return blobCreated(name, mounted.digest);
        }
        const digest = request.query.get('digest');
        if (digest !== null && mount === null) {
          const blob = await registry.uploadWhole(name, digest, chunk(request));
          return blobCreated(name, blob.digest);
        }
        const upload = await registry.startUpload(name);
        return uploadStatus(request, name, upload.id, 0, 202);
      },
    },
    upload: {
      GET: async (request, { name, id }) => {
        const upload = await registry.getUpload(name, id);
        return uploadStatus(request, name, id, upload.offset, 204);
      },
      PATCH: async (request, { name, id }) =>
        withUploadLocation(request, name, id, async () => {
          const upload = await registry.appendUpload(name, id, chunk(request));
          return uploadStatus(request, name, id, upload.offset, 202);
        }),
      PUT: async (request, { name, id }) =>
        withUploadLocation(request, name, id, async () => {
          const blob = await registry.completeUpload(name, id, request.query.get('digest') ?? undefined, chunk(request));
          return blobCreated(name, blob.digest);
        }),
      DELETE: async (_request, { name, id }) => {
        await registry.cancelUpload(name, id);
        return { status: 204, headers: {} };
      },
    },
    blob: {
      GET: async (request, { name, digest }) => {
        const blob = await registry.readBlob(name, digest, request.headers['range']);
        if (blob.kind === 'redirect') {
          return { status: 307, headers: { Location: blob.url, 'Docker-Content-Digest': blob.digest, 'Content-Length': '0' } };
        }
        const headers: Record<string, string> = {
          'Content-Type': 'application/octet-stream',
          'Docker-Content-Digest': blob.digest,
          'Accept-Ranges': 'bytes',
          ETag: `"${blob.digest}"`,
        };
        if (blob.range) {
          headers['Content-Range'] = `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`;
          headers['Content-Length'] = String(blob.range.end - blob.range.start + 1);
          return { status: 206, headers, body: blob.stream };
        }
        headers['Content-Length'] = String(blob.size);
        return { status: 200, headers, body: blob.stream };
      },
      HEAD: async (_request, { name, digest }) => {
        const blob = await registry.statBlob(name, digest);
        return {
          status: 200,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Length': String(blob.size),
            'Docker-Content-Digest': blob.digest,
            'Accept-Ranges': 'bytes',
            ETag: `"${blob.digest}"`,
          },
        };
      },
      DELETE: async (_request, { name, digest }) => {
        await registry.deleteBlob(name, digest);
        return { status: 202, headers: { 'Content-Length': '0' } };
      },
    },
    referrers: {
      GET: async (request, { name, digest }) => {
        const artifactType = request.query.get('artifactType') ?? undefined;
        const page = await registry.listReferrers(name, digest, { artifactType, last: request.query.get('last') ?? undefined });
        const body = Buffer.from(JSON.stringify(page.index));
        const headers: Record<string, string> = { 'Content-Type': 'application/vnd.oci.image.index.v1+json', 'Content-Length': String(body.length) };
        if (page.filtered) headers['OCI-Filters-Applied'] = 'artifactType';
        if (page.nextLast !== undefined) {
          const query = new URLSearchParams({ ...(artifactType !== undefined ? { artifactType } : {}), last: page.nextLast });
          headers.Link = `</v2/${name}/referrers/${digest}?${query.toString()}>; rel="next"`;
        }
        return { status: 200, headers, body };
      },
    },
  };

  const uploadRoute = ociRouteOf('upload');
  const blobRoute = ociRouteOf('blob');

  /** A signed download URL: the blob it names, for as long as it lasts, whatever the caller's credentials. */
  async function dispatchSignedDownload(request: HttpRequest): Promise<HttpResponse> {
    const match = matchOciRoute(request.path, [blobRoute]);
    if (!match || (request.method !== 'GET' && request.method !== 'HEAD')) {
      throw new RegistryError('DENIED', `a download URL is for GET or HEAD of one blob`);
    }
    const params = decodeParams(match.params);
    if (!options.downloadTokens!.verify(request.query.get(DOWNLOAD_TOKEN_PARAM), params.name, params.digest)) {
      throw new RegistryError('DENIED', 'this download URL has expired or was issued for another blob: ask GetDownloadUrlForLayer for a new one');
    }
    request.identity = { subject: `download:${params.name}`, method: 'download-token' };
    return dispatch(handlers, [blobRoute], request);
  }

  /** The ingest host: upload sessions only, each authorized by the token its Location carried. */
  async function dispatchIngest(request: HttpRequest): Promise<HttpResponse> {
    if (request.path === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) return json(200, { status: 'ok' });
    const match = matchOciRoute(request.path, [uploadRoute]);
    if (!match) throw new RegistryError('NOT_FOUND', 'this host only takes upload bytes; use the registry endpoint for everything else');
    const params = decodeParams(match.params);
    if (!tokens!.verify(request.query.get('token'), params.name, params.id)) {
      throw new RegistryError('UNAUTHORIZED', 'upload token missing, expired, or issued for another upload: start the upload again', undefined, {
        'WWW-Authenticate': authenticator.challenge,
      });
    }
    request.identity = { subject: `upload:${params.id}`, method: 'upload-token' };
    return dispatch(handlers, [uploadRoute], request);
  }

  return async function route(request: HttpRequest): Promise<HttpResponse> {
    let response: HttpResponse;
    try {
      if (role === 'ingest') {
        response = await dispatchIngest(request);
      } else if (options.controlPlane && request.method === 'POST' && request.path === '/' && request.headers['x-amz-target'] !== undefined) {
        // Not an OCI request: its answer carries no OCI headers.
        return await options.controlPlane(request);
      } else if (options.tokenService && request.path === '/v2/token') {
        response = await options.tokenService(request);
      } else if (options.downloadTokens && request.query.has(DOWNLOAD_TOKEN_PARAM)) {
        response = await dispatchSignedDownload(request);
      } else {
        if (!request.identity) {
          const identity = await authenticator.authenticate(request.headers['authorization']);
          if (!identity) throw new RegistryError('UNAUTHORIZED', undefined, undefined, { 'WWW-Authenticate': authenticator.challengeFor?.(request) ?? authenticator.challenge });
          request.identity = identity;
        }
        const access = options.accessControl;
        response = access
          ? await access.run(request, () => dispatch(handlers, OCI_ROUTES, request, (kind, params) => access.authorize(request, kind, params)))
          : await dispatch(handlers, OCI_ROUTES, request);
      }
    } catch (err) {
      response = renderError(err, request, log);
    }
    response.headers = { ...API_VERSION_HEADER, ...response.headers };
    if (request.method === 'HEAD') response.body = undefined;
    return response;
  };
}

async function dispatch(
  handlers: RouteHandlers,
  routes: readonly OciRoute[],
  request: HttpRequest,
  authorize?: (kind: OciRouteKind, params: Record<string, string>) => Promise<void>,
): Promise<HttpResponse> {
  const match = matchOciRoute(request.path, routes);
  if (!match) throw new RegistryError('NOT_FOUND', `no registry endpoint at ${request.path.slice(0, 200)}`);
  const { route } = match;
  const methods: string[] = methodsOf(route);
  if (!methods.includes(request.method)) {
    throw new RegistryError('UNSUPPORTED', `${request.method} is not supported here; allowed: ${methods.join(', ')}`, undefined, { Allow: methods.join(', ') });
  }
  const params = decodeParams(match.params);
  if (authorize) await authorize(route.kind, params);
  return (handlers[route.kind] as Record<string, RouteHandler>)[request.method]!(request, params);
}

/** The error a malformed escape in each path parameter amounts to. */
const MALFORMED_PARAM: Record<string, ErrorKind> = { digest: 'DIGEST_INVALID', id: 'BLOB_UPLOAD_UNKNOWN' };

function decodeParams(groups: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(groups)) {
    if (value === undefined) continue;
    // No character of the name grammar needs escaping, so an escape in a name can only alias
    // another repository (a%2Fb for a/b) past whatever authorizes by path: keep it as sent,
    // and the grammar refuses it.
    if (key === 'name') {
      out[key] = value;
      continue;
    }
    // A malformed escape in a reference stays as sent: the tag and digest grammars refuse it, so a
    // PUT answers 400 and a read or delete answers 404 (no manifest can be named so).
    if (key === 'reference' && !isDecodable(value)) {
      out[key] = value;
      continue;
    }
    try {
      out[key] = decodeURIComponent(value);
    } catch {
      throw new RegistryError(MALFORMED_PARAM[key] ?? 'NOT_FOUND', `malformed percent-encoding in ${key}`);
    }
  }
  return out;
}

function isDecodable(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

function chunkTooLarge(limit: number): RegistryError {
  return new RegistryError('CHUNK_TOO_LARGE', `a request may carry at most ${limit} bytes of a blob here: send it in chunks of at most ${limit} bytes (PATCH with Content-Range)`, {
    maxChunkLength: limit,
  });
}

function contentLength(request: HttpRequest): number | undefined {
  const value = request.headers['content-length'];
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) throw new RegistryError('SIZE_INVALID', 'Content-Length is not a number');
  return Number(value);
}

function manifestHeaders(manifest: { digest: string; mediaType: string; size: number }): Record<string, string> {
  return {
    'Content-Type': manifest.mediaType,
    'Content-Length': String(manifest.size),
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  };
}

function nextLink(path: string, page: ListPage): Record<string, string> {
  if (!page.next) return {};
  const query = new URLSearchParams({ n: String(page.next.n), last: page.next.last });
  return { Link: `<${path}?${query.toString()}>; rel="next"` };
}
