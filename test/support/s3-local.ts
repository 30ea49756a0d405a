/** The S3 stand-in for tests: the same one `berth serve --emulate-aws` runs (see lambdas/emulators/s3-local.ts). */
export { startLocalS3, type LocalS3 } from '../../lambdas/emulators/s3-local';
