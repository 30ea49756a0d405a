/**
 * The figures of `berth stats` (lambdas/core/registry-stats.ts) over a store that answers in small
 * pages, their text rendering, and the stats route where no provider counts them (AWS).
 */
import { renderStats } from '../../lambdas/cli/stats';
import type { RegistryError } from '../../lambdas/core/errors';
import type { ImageRecord } from '../../lambdas/core/model';
import type { Registry } from '../../lambdas/core/registry';
import { computeRegistryStats, type StatsMetadata, type StatsReport } from '../../lambdas/core/registry-stats';
import { createRouter } from '../../lambdas/http/router';
import type { LinkedBlob, PageRequest } from '../../lambdas/storage/ports';

/** Pages of at most two items, whatever the limit asked: every listing takes several reads. */
function paged<T>(items: T[], keyOf: (item: T) => string, page: PageRequest, log: string[], what: string) {
  log.push(what);
  const after = page.last === undefined ? items : items.filter((item) => keyOf(item) > page.last!);
  return { items: after.slice(0, Math.min(2, page.limit)), more: after.length > 2 };
}

function fakeStore(repositories: Record<string, { images: Array<{ digest: string; tags: string[] }>; links: Array<[string, number]> }>) {
  const reads: string[] = [];
  const store: StatsMetadata = {
    getRepository: async (name) => (repositories[name] ? ({ name } as never) : null),
    listRepositories: async (page) => paged(Object.keys(repositories).sort(), (n) => n, page, reads, 'repositories'),
    listManifests: async (repository, page) =>
      paged(
        (repositories[repository]?.images ?? []).map((image) => ({ ...image, blobs: [] }) as unknown as ImageRecord),
        (r) => r.digest,
        page,
        reads,
        `manifests ${repository}`,
      ),
    listBlobLinks: async (repository, page) =>
      paged(
        (repositories[repository]?.links ?? []).map(([digest, size]): LinkedBlob => ({ digest, size, linkedAt: '1970-01-01T00:00:00.000Z' })),
        (l) => l.digest,
        page,
        reads,
        `links ${repository}`,
      ),
  };
  return { store, reads };
}

const REPOSITORIES = {
  'a/one': {
    images: [
      { digest: 'sha256:1', tags: ['v1', 'latest'] },
      { digest: 'sha256:2', tags: [] },
      { digest: 'sha256:3', tags: ['v3'] },
    ],
    links: [['sha256:base', 1000], ['sha256:x', 10], ['sha256:y', 20]] as Array<[string, number]>,
  },
  'b/two': { images: [{ digest: 'sha256:4', tags: ['v1'] }], links: [['sha256:base', 1000], ['sha256:z', 5]] as Array<[string, number]> },
  'c/three': { images: [], links: [] },
  'd/four': { images: [], links: [['sha256:x', 10]] as Array<[string, number]> },
  'e/five': { images: [{ digest: 'sha256:5', tags: ['a', 'b', 'c'] }], links: [['sha256:w', 7]] as Array<[string, number]> },
};

describe('computeRegistryStats', () => {
  test('GIVEN repositories sharing blobs, listed in pages WHEN counted THEN each repository counts its links, the registry each distinct blob once', async () => {
    const { store, reads } = fakeStore(REPOSITORIES);
    const stats = await computeRegistryStats(store);
    expect(stats.repositories).toEqual([
      { repository: 'a/one', images: 3, tags: 3, blobs: 3, storedBytes: 1030 },
      { repository: 'b/two', images: 1, tags: 1, blobs: 2, storedBytes: 1005 },
      { repository: 'c/three', images: 0, tags: 0, blobs: 0, storedBytes: 0 },
      { repository: 'd/four', images: 0, tags: 0, blobs: 1, storedBytes: 10 },
      { repository: 'e/five', images: 1, tags: 3, blobs: 1, storedBytes: 7 },
    ]);
    expect(stats.registry).toEqual({ repositories: 5, images: 5, tags: 7, blobs: 5, storedBytes: 1000 + 10 + 20 + 5 + 7 });
    // Five repositories in pages of two, a/one's three manifests and three links in two pages each.
    expect(reads.filter((r) => r === 'repositories')).toHaveLength(3);
    expect(reads.filter((r) => r === 'manifests a/one')).toHaveLength(2);
    expect(reads.filter((r) => r === 'links a/one')).toHaveLength(2);
  });

  test('GIVEN a visibility filter WHEN counted THEN only the visible repositories count, the registry over them alone', async () => {
    const { store } = fakeStore(REPOSITORIES);
    const asked: string[][] = [];
    const stats = await computeRegistryStats(store, {
      visible: async (names) => {
        asked.push(names);
        return names.filter((n) => n !== 'a/one');
      },
    });
    expect(asked).toEqual([['a/one', 'b/two'], ['c/three', 'd/four'], ['e/five']]);
    expect(stats.repositories.map((r) => r.repository)).toEqual(['b/two', 'c/three', 'd/four', 'e/five']);
    expect(stats.registry).toEqual({ repositories: 4, images: 2, tags: 4, blobs: 4, storedBytes: 1000 + 5 + 10 + 7 });
  });

  test('GIVEN one repository WHEN counted THEN that one; an unknown one is NAME_UNKNOWN, an invisible one DENIED, a malformed name NAME_INVALID', async () => {
    const { store } = fakeStore(REPOSITORIES);
    expect(await computeRegistryStats(store, { repository: 'b/two' })).toEqual({
      repositories: [{ repository: 'b/two', images: 1, tags: 1, blobs: 2, storedBytes: 1005 }],
      registry: { repositories: 1, images: 1, tags: 1, blobs: 2, storedBytes: 1005 },
    });
    const kindOf = (promise: Promise<unknown>) => promise.then(() => 'none', (err: RegistryError) => err.kind);
    expect(await kindOf(computeRegistryStats(store, { repository: 'x/none' }))).toBe('NAME_UNKNOWN');
    expect(await kindOf(computeRegistryStats(store, { repository: 'b/two', visible: async () => [] }))).toBe('DENIED');
    expect(await kindOf(computeRegistryStats(store, { repository: 'Bad//Name' }))).toBe('NAME_INVALID');
  });
});

describe('the stats text and route', () => {
  const report: StatsReport = {
    repositories: [
      { repository: 'team/app', images: 12, tags: 3, blobs: 40, storedBytes: 150 * 1048576 },
      { repository: 'x', images: 1, tags: 1, blobs: 2, storedBytes: 52429 },
    ],
    registry: { repositories: 2, images: 13, tags: 4, blobs: 41, storedBytes: 140 * 1048576 },
    lastCollection: null,
  };

  test('GIVEN figures WHEN rendered THEN a table, the registry line and the last collection', () => {
    expect(renderStats(report)).toBe(
      [
        'REPOSITORY  IMAGES  TAGS  BLOBS     STORED',
        'team/app        12     3     40  150.0 MiB',
        'x                1     1      2    0.1 MiB',
        'registry: 2 repositories, 13 images, 4 tags, 41 blobs, 140.0 MiB stored (deduplicated)',
        'no collection yet',
        '',
      ].join('\n'),
    );
    const last = { finishedAt: '2025-01-02T03:04:05.000Z', durationMs: 10, unlinked: 1, deleted: 3, bytesFreed: 3 * 1048576, complete: false };
    expect(renderStats({ ...report, repositories: [], lastCollection: last })).toBe(
      'registry: 2 repositories, 13 images, 4 tags, 41 blobs, 140.0 MiB stored (deduplicated)\n' +
        'last collection: 2025-01-02T03:04:05.000Z, freed 3.0 MiB (1 link, 3 blobs), stopped before its end\n',
    );
  });

  test('GIVEN a router without a stats provider (AWS) WHEN asked THEN 405 UNSUPPORTED naming the CloudWatch metrics', async () => {
    const router = createRouter({ registry: {} as Registry });
    const response = await router({ method: 'GET', path: '/v2/_berth/stats', query: new URLSearchParams(), headers: {}, body: null });
    expect(response.status).toBe(405);
    const body = JSON.parse(Buffer.from(response.body as Uint8Array).toString('utf8')) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0].code).toBe('UNSUPPORTED');
    expect(body.errors[0].message).toMatch(/CloudWatch metrics/);
  });

  test('GIVEN a router with a provider WHEN asked for one repository THEN the provider gets it and the answer is its JSON', async () => {
    const asked: Array<string | undefined> = [];
    const router = createRouter({
      registry: {} as Registry,
      stats: async ({ repository }) => {
        asked.push(repository);
        return report;
      },
    });
    const response = await router({ method: 'GET', path: '/v2/_berth/stats', query: new URLSearchParams({ repository: 'team/app' }), headers: {}, body: null });
    expect(response.status).toBe(200);
    expect(asked).toEqual(['team/app']);
    expect(JSON.parse(Buffer.from(response.body as Uint8Array).toString('utf8'))).toEqual(report);
  });
});
