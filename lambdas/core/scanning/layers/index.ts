/**
 * The analyzer's layer reader (issue 15): an image's files of interest out of its layer blobs,
 * streamed once each, whiteouts applied, memory bounded. See read-image-files.ts.
 */
export { readImageFiles, type ImageFiles, type ImageLayer, type ReadImageFilesOptions } from './read-image-files';
export { LayerReadError, type LayerReadErrorCode } from './errors';
export { normalizeEntryPath, resolvePath } from './paths';
