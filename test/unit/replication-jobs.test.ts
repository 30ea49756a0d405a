// Which replications a change asks for (core/replication/replication-jobs.ts).
import { replicationJobsOf } from '../../lambdas/core/replication/replication-jobs';
import type { ReplicationConfiguration } from '../../lambdas/core/model';

const EU = { region: 'eu-west-1', registryId: '111122223333' };
const PROD = { region: 'us-east-1', registryId: '444455556666' };
const configuration: ReplicationConfiguration = {
  rules: [
    { destinations: [EU], repositoryFilters: [{ filter: 'team/', filterType: 'PREFIX_MATCH' }] },
    { destinations: [PROD, EU], repositoryFilters: [{ filter: 'team/app', filterType: 'PREFIX_MATCH' }], deleteReplication: { enabled: true } },
  ],
};
const push = (repository: string, more = {}) => ({ action: 'PUSH', repository, digest: 'sha256:a', tag: 'v1', ...more });

test('a push goes to every destination the rules give its repository, once each, in rule order', () => {
  expect(replicationJobsOf(push('team/app'), configuration).map((j) => j.destination)).toEqual([EU, PROD]);
  expect(replicationJobsOf(push('team/web'), configuration).map((j) => j.destination)).toEqual([EU]);
  expect(replicationJobsOf(push('other/app'), configuration)).toEqual([]);
  expect(replicationJobsOf(push('team/app'), configuration)[0]).toEqual({ kind: 'push', repository: 'team/app', digest: 'sha256:a', tag: 'v1', destination: EU });
});

test('a rule without filters covers every repository', () => {
  expect(replicationJobsOf(push('anything/at-all'), { rules: [{ destinations: [PROD] }] }).map((j) => j.destination)).toEqual([PROD]);
});

test('a delete goes only where deleteReplication is on', () => {
  const del = { ...push('team/app'), action: 'DELETE' };
  expect(replicationJobsOf(del, configuration).map((j) => [j.kind, j.destination])).toEqual([
    ['delete', PROD],
    ['delete', EU],
  ]);
  expect(replicationJobsOf({ ...del, repository: 'team/web' }, configuration)).toEqual([]);
});

test("a replica's own changes, storage-class moves and no rules ask for nothing", () => {
  expect(replicationJobsOf(push('team/app', { replicatedFrom: { account: '999988887777', region: 'eu-central-1' } }), configuration)).toEqual([]);
  expect(replicationJobsOf({ ...push('team/app'), action: 'UPDATE_STORAGE_CLASS' }, configuration)).toEqual([]);
  expect(replicationJobsOf(push('team/app'), { rules: [] })).toEqual([]);
});

test('a DELETE a replicated delete recorded (replicatedFrom) asks for nothing, even where deleteReplication is on', () => {
  const del = { ...push('team/app'), action: 'DELETE' };
  expect(replicationJobsOf(del, configuration)).toHaveLength(2);
  expect(replicationJobsOf({ ...del, replicatedFrom: { account: '999988887777', region: 'eu-central-1' } }, configuration)).toEqual([]);
  expect(replicationJobsOf({ ...del, tag: undefined, replicatedFrom: { account: '999988887777', region: 'eu-central-1' } }, configuration)).toEqual([]);
});
