/**
 * Which replications an image change asks for (docs/replication.md, "Behaviour"): a PUSH goes to every
 * destination the configuration's rules give its repository, once each; a DELETE (a tag removed, an
 * image deleted, a lifecycle expiry) only to the destinations of rules with `deleteReplication` on.
 * A replica's own changes ask for nothing: replication is never chained, as in ECR.
 */
import type { ReplicationJob } from '../../contracts/replicator';
import type { ReplicationConfiguration, ReplicationDestination } from '../model';
import { ruleCovers } from './configuration';

export type { ReplicationJob } from '../../contracts/replicator';

/** The parts of an image change (an outbox change or the event built from it) replication reads. */
export interface ReplicatedChange {
  action: string;
  repository: string;
  digest: string;
  tag?: string;
  /** Set on a replica's own changes. */
  replicatedFrom?: unknown;
}

const keyOf = (d: ReplicationDestination) => `${d.region}/${d.registryId}`;

export function replicationJobsOf(change: ReplicatedChange, configuration: ReplicationConfiguration): ReplicationJob[] {
  if (change.replicatedFrom !== undefined) return [];
  const kind = change.action === 'PUSH' ? 'push' : change.action === 'DELETE' ? 'delete' : undefined;
  if (kind === undefined) return [];
  const destinations = new Map<string, ReplicationDestination>();
  for (const rule of configuration.rules) {
    if (!ruleCovers(rule, change.repository)) continue;
    if (kind === 'delete' && rule.deleteReplication?.enabled !== true) continue;
    for (const d of rule.destinations) if (!destinations.has(keyOf(d))) destinations.set(keyOf(d), { region: d.region, registryId: d.registryId });
  }
  return [...destinations.values()].map((destination) => ({
    kind,
    repository: change.repository,
    digest: change.digest,
    ...(change.tag !== undefined ? { tag: change.tag } : {}),
    destination,
  }));
}
