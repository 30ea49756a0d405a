import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on `scope` (and every construct under it) with the reason the
 * design accepts it.
 *
 * Each construct acknowledges the findings of the resources it creates, next to them, on the
 * narrowest construct that holds the flagged resource (RegistryApi, IngestService, and
 * RegistryStorage for its object-level grants). Everything else cdk-nag's AwsSolutions pack checks
 * is fixed in the constructs (access logs, PITR, TLS-only buckets, HTTPS-only viewers, TLS 1.2 to
 * the origin, Container Insights, VPC flow logs, no `*` in data grants...).
 *
 * @param scope the construct that holds the flagged resource; `undefined` (a resource that exists
 *   only in some configurations) acknowledges nothing
 * @param id the finding as cdk-nag reports it, e.g. `AwsSolutions-L1` or
 *   `AwsSolutions-IAM5[Resource::*]`
 * @param reason why the finding is accepted (test/cdk/nag.test.ts requires a real sentence)
 */
export function acknowledgeNagFinding(scope: IConstruct | undefined, id: string, reason: string): void {
  if (scope) Validations.of(scope).acknowledge({ id, reason });
}
