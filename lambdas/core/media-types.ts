export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerManifest, MediaTypes.ociManifest]);
export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerManifestList, MediaTypes.ociIndex]);
export const SCHEMA1_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerSchema1, MediaTypes.dockerSchema1Signed]);

export function isManifestMediaType(mediaType: string): boolean {
  return IMAGE_MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType);
}

/** Layers a registry must not require: their bytes live elsewhere (Windows base layers, for one). */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType === MediaTypes.dockerForeignLayer || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}
