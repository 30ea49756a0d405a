/**
 * Placeholder entry point until the Lambda handler lands; the CDK stack bundles this path.
 */
export async function handler(_event: unknown): Promise<never> {
  throw new Error('not implemented');
}
