/**
 * The OCI route table (lambdas/contracts/oci-routes.ts) and everything that reads it: the endpoint
 * table of docs/access-control.md, the router (the role `registry` and the ingest role), the Lambda
 * authorizer's route recognition, the request description of the logs and access control. Each is
 * checked against the contract over the same sample paths, so a route added, reordered or changed
 * in one place only fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECR_ACTIONS, type EcrAction } from '../../lambdas/contracts/ecr-actions';
import {
  OCI_ENDPOINT_PERMISSIONS,
  OCI_ROUTES,
  logNameOf,
  matchOciRoute,
  methodsOf,
  ociRouteOf,
  permissionFor,
  type OciEndpointPermission,
  type OciMethod,
  type OciRouteKind,
} from '../../lambdas/contracts/oci-routes';
import { RegistryError } from '../../lambdas/core/errors';
import type { Registry } from '../../lambdas/core/registry';
import { UploadTokens } from '../../lambdas/core/upload-tokens';
import { AnonymousPullPolicy, ociRoute } from '../../lambdas/handlers/authorizer';
import { describeRequest } from '../../lambdas/handlers/proxy-event';
import { AccessControl } from '../../lambdas/http/access-control';
import { createRouter } from '../../lambdas/http/router';
import type { HttpRequest } from '../../lambdas/http/types';

const DOC = join(__dirname, '../../docs/access-control.md');
const METHODS: OciMethod[] = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];
const ACCOUNT = '123456789012';
const CI = { subject: `arn:aws:iam::${ACCOUNT}:user/ci`, method: 'login-token' as const, principal: { arn: `arn:aws:iam::${ACCOUNT}:user/ci`, account: ACCOUNT } };

/**
 * Paths and the route each is on (kind and repository as sent), written out by hand: the edge
 * cases are where the order of the patterns decides.
 */
const SAMPLES: Array<{ path: string; kind?: OciRouteKind; name?: string; reference?: string; digest?: string; id?: string }> = [
  { path: '/v2/', kind: 'base' },
  { path: '/v2', kind: 'base' },
  { path: '/v2/_catalog', kind: 'catalog' },
  { path: '/v2/_berth/stats', kind: 'stats' },
  { path: '/v2/_berth/stats/x' },
  { path: '/v2/_berth' },
  { path: '/v2/token' },
  { path: '/v2/team/app' },
  { path: '/v2/_catalog/x' },
  { path: '/healthz' },
  { path: '/' },
  { path: '/v2/app/tags/list', kind: 'tags-list', name: 'app' },
  { path: '/v2/a/b/c/tags/list', kind: 'tags-list', name: 'a/b/c' },
  { path: '/v2/_catalog/tags/list', kind: 'tags-list', name: '_catalog' },
  // tags/list is tried before manifests: a repository may be called a/manifests.
  { path: '/v2/a/manifests/tags/list', kind: 'tags-list', name: 'a/manifests' },
  { path: '/v2/team/app/manifests/v1', kind: 'manifest', name: 'team/app', reference: 'v1' },
  { path: '/v2/a/tags/list/manifests/latest', kind: 'manifest', name: 'a/tags/list', reference: 'latest' },
  { path: '/v2/a/manifests/sha256:00', kind: 'manifest', name: 'a', reference: 'sha256:00' },
  { path: '/v2/a%2Fb/manifests/v1', kind: 'manifest', name: 'a%2Fb', reference: 'v1' },
  { path: '/v2/a/manifests/' },
  { path: '/v2/a/b/blobs/uploads/', kind: 'upload-start', name: 'a/b' },
  { path: '/v2/a/b/blobs/uploads', kind: 'upload-start', name: 'a/b' },
  { path: '/v2/a/b/blobs/uploads/xyz', kind: 'upload', name: 'a/b', id: 'xyz' },
  { path: '/v2/a/blobs/uploads/blobs/uploads/xyz', kind: 'upload', name: 'a/blobs/uploads', id: 'xyz' },
  { path: '/v2/a/b/blobs/uploads/x/y' },
  { path: '/v2/a/b/blobs/sha256:00', kind: 'blob', name: 'a/b', digest: 'sha256:00' },
  { path: '/v2/team/app/blobs/sha256:ab', kind: 'blob', name: 'team/app', digest: 'sha256:ab' },
  { path: '/v2/a/referrers/sha256:00', kind: 'referrers', name: 'a', digest: 'sha256:00' },
  { path: '/v2/a/b/referrers/sha256:00', kind: 'referrers', name: 'a/b', digest: 'sha256:00' },
  { path: '/v2/a/referrers/' },
];

/** The doc's table as the contract has it. */
function renderEndpointTable(rows: readonly OciEndpointPermission[]): string {
  const code = (actions: readonly string[]) => actions.map((action) => `\`${action}\``).join(', ');
  const line = (cells: string[]) => `|${cells.map((cell) => (cell === '' ? ' ' : ` ${cell} `)).join('|')}|`;
  return [
    line(['Method', 'Endpoint', 'Actions on the repository', 'Actions on the `from` repository', 'Note']),
    line(['---', '---', '---', '---', '---']),
    ...rows.map((row) => line([row.method, `\`${row.path}\``, row.actions.length > 0 ? code(row.actions) : '(none)', code(row.sourceActions ?? []), row.note ?? ''])),
  ].join('\n');
}

/** The table at the top of docs/access-control.md: from its header to the first line that is not a row. */
function documentedEndpointTable(): string {
  const lines = readFileSync(DOC, 'utf8').split('\n');
  const start = lines.findIndex((line) => line.startsWith('| Method | Endpoint |'));
  if (start < 0) throw new Error(`${DOC} has no endpoint table`);
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** A concrete request for a row: its template filled in, and the query that selects its variant. */
function sampleRequest(row: OciEndpointPermission): HttpRequest {
  const [template, query = ''] = row.path.split('?');
  const path = template!.replace('<name>', 'team/app').replace('<reference>', 'v1').replace('<digest>', 'sha256:00').replace('<id>', 'xyz');
  const filled = query.replace('<digest>', 'sha256:00').replace('<other>', 'other/app');
  return { method: row.method, path, query: new URLSearchParams(filled), headers: {}, body: null, identity: { ...CI } };
}

/** A Registry that answers nothing: it records which operation the router called, with what. */
function recordingRegistry() {
  const calls: Array<{ operation: string; args: unknown[] }> = [];
  const registry = new Proxy({ chunkMinLength: 0, maxManifestBytes: 4 * 1024 * 1024 } as unknown as Registry, {
    get(target, property) {
      if (property in target) return target[property as keyof Registry];
      return async (...args: unknown[]) => {
        calls.push({ operation: String(property), args });
        throw new RegistryError('UNSUPPORTED', 'recorded');
      };
    },
  });
  return { registry, calls };
}

describe('the OCI route table', () => {
  test('GIVEN the contract WHEN rendered as the endpoint table THEN docs/access-control.md shows exactly that table', () => {
    const rendered = renderEndpointTable(OCI_ENDPOINT_PERMISSIONS);
    const documented = documentedEndpointTable();
    if (documented !== rendered) {
      // The message holds the table to paste; the diff below says which rows drifted.
      const message = `the endpoint table of docs/access-control.md differs from lambdas/contracts/oci-routes.ts; as the contract has it:\n\n${rendered}\n`;
      expect({ message, documented: documented.split('\n') }).toEqual({ message, documented: rendered.split('\n') });
    }
  });

  test('GIVEN every row WHEN its actions are looked up THEN each is a known ECR action, and each method, route and variant appears once', () => {
    const seen = new Set<string>();
    for (const entry of OCI_ENDPOINT_PERMISSIONS) {
      for (const action of [...entry.actions, ...(entry.sourceActions ?? [])]) expect(ECR_ACTIONS[action]).toBeDefined();
      const key = `${entry.method} ${entry.kind} ${entry.variant ?? ''}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      const request = sampleRequest(entry);
      expect(permissionFor(entry.method, entry.kind, request.query)).toBe(entry);
      if (entry.variant === undefined) expect(permissionFor(entry.method, entry.kind)).toBe(entry);
    }
    expect(OCI_ENDPOINT_PERMISSIONS).toHaveLength(OCI_ROUTES.reduce((n, route) => n + methodsOf(route).length, 0) + 2);
  });

  test('GIVEN a POST to uploads/ WHEN its query names mount, digest, both or neither THEN the row is the one the router serves', () => {
    const post = (query: string) => permissionFor('POST', 'upload-start', new URLSearchParams(query))?.variant;
    expect(post('')).toBeUndefined();
    expect(post('digest=sha256:00')).toBe('monolithic');
    expect(post('mount=sha256:00&from=a')).toBe('mount');
    // The router tries the mount first, and never takes the digest of a mount that fell back.
    expect(post('mount=sha256:00&from=a&digest=sha256:00')).toBe('mount');
    expect(permissionFor('PATCH', 'upload-start')).toBeUndefined();
  });

  test('GIVEN every route WHEN its template is filled in THEN its own pattern matches it and no earlier route does', () => {
    for (const row of OCI_ENDPOINT_PERMISSIONS) {
      const { path } = sampleRequest(row);
      expect({ path, kind: matchOciRoute(path)?.route.kind }).toEqual({ path, kind: row.kind });
    }
  });

  test.each(SAMPLES.map((sample) => [sample.path, sample] as const))('GIVEN %s WHEN the contract matches it THEN the route and parameters are the expected ones', (path, sample) => {
    const match = matchOciRoute(path);
    expect(match?.route.kind).toBe(sample.kind);
    if (!match) return;
    expect(match.params).toEqual({ name: sample.name, reference: sample.reference, digest: sample.digest, id: sample.id });
  });
});

describe('who reads the table', () => {
  test.each(SAMPLES.map((sample) => [sample.path, sample] as const))('GIVEN %s WHEN the authorizer recognises it THEN it names the route and repository the contract does', (path, sample) => {
    expect(ociRoute(path)).toEqual(sample.kind === undefined ? undefined : sample.name === undefined ? { kind: sample.kind } : { kind: sample.kind, name: sample.name });
  });

  test.each(SAMPLES.map((sample) => [sample.path, sample] as const))('GIVEN %s WHEN described for logs THEN by the route of the contract, for every method', (path, sample) => {
    for (const method of METHODS) {
      const expected = sample.kind === undefined ? { action: 'other' } : { action: logNameOf(ociRouteOf(sample.kind), method), ...(sample.name !== undefined ? { repository: sample.name } : {}) };
      expect(describeRequest(method, path)).toEqual(expected);
    }
  });

  test('GIVEN the names logs and metrics used before the table WHEN requests are described THEN they are unchanged', () => {
    expect(describeRequest('GET', '/v2/')).toEqual({ action: 'ping' });
    expect(describeRequest('HEAD', '/v2')).toEqual({ action: 'ping' });
    expect(describeRequest('GET', '/v2/_catalog')).toEqual({ action: 'catalog' });
    expect(describeRequest('GET', '/v2/a/b/tags/list')).toEqual({ repository: 'a/b', action: 'tags.list' });
    expect(describeRequest('DELETE', '/v2/a/manifests/v1')).toEqual({ repository: 'a', action: 'manifest.delete' });
    expect(describeRequest('POST', '/v2/a/blobs/uploads/')).toEqual({ repository: 'a', action: 'upload.start' });
    expect(describeRequest('PATCH', '/v2/a/blobs/uploads/xyz')).toEqual({ repository: 'a', action: 'upload.patch' });
    expect(describeRequest('HEAD', '/v2/a/blobs/sha256:00')).toEqual({ repository: 'a', action: 'blob.head' });
    expect(describeRequest('GET', '/v2/a/referrers/sha256:00')).toEqual({ repository: 'a', action: 'referrers.list' });
    expect(describeRequest('GET', '/v2/token')).toEqual({ action: 'other' });
    expect(describeRequest('POST', '/')).toEqual({ action: 'other' });
  });

  test('GIVEN every sample and method WHEN the router gets it THEN it authorizes by the contract route, answers 405 with the contract methods, or 404 off the table', async () => {
    const { registry } = recordingRegistry();
    const authorized: Array<{ kind: OciRouteKind; params: Record<string, string> }> = [];
    const accessControl = {
      run: <T>(_request: HttpRequest, work: () => Promise<T>) => work(),
      authorize: async (_request: HttpRequest, kind: OciRouteKind, params: Record<string, string>) => {
        authorized.push({ kind, params });
      },
      filterCatalog: async (_request: HttpRequest, names: string[]) => names,
    } as unknown as AccessControl;
    const tokenRequests: string[] = [];
    const router = createRouter({ registry, accessControl, tokenService: async (request) => (tokenRequests.push(request.path), { status: 200, headers: {} }) });
    for (const sample of SAMPLES) {
      for (const method of METHODS) {
        authorized.length = 0;
        const response = await router({ method, path: sample.path, query: new URLSearchParams(), headers: {}, body: null, identity: { ...CI } });
        const context = { path: sample.path, method };
        if (sample.path === '/v2/token') {
          expect({ ...context, status: response.status }).toEqual({ ...context, status: 200 });
          continue;
        }
        if (sample.kind === undefined) {
          expect({ ...context, status: response.status, authorized }).toEqual({ ...context, status: 404, authorized: [] });
          continue;
        }
        const route = ociRouteOf(sample.kind);
        if (!methodsOf(route).includes(method)) {
          expect({ ...context, status: response.status, allow: response.headers.Allow }).toEqual({ ...context, status: 405, allow: methodsOf(route).join(', ') });
          continue;
        }
        expect({ ...context, authorized: authorized.map((a) => ({ kind: a.kind, name: a.params.name })) }).toEqual({ ...context, authorized: [{ kind: sample.kind, name: sample.name }] });
      }
    }
    expect(tokenRequests).toHaveLength(METHODS.length);
  });

  test('GIVEN the ingest role WHEN samples arrive with an upload token THEN only the upload route of the contract is served, by the upload operations', async () => {
    const { registry, calls } = recordingRegistry();
    const tokens = new UploadTokens(new Uint8Array(32).fill(7));
    const router = createRouter({ registry, role: 'ingest', uploadTokens: tokens });
    for (const sample of SAMPLES) {
      calls.length = 0;
      const token = tokens.issue(sample.name ?? 'none', sample.id ?? 'none');
      const response = await router({ method: 'PATCH', path: sample.path, query: new URLSearchParams({ token }), headers: {}, body: null });
      const context = { path: sample.path };
      if (sample.kind === 'upload') {
        expect({ ...context, calls: calls.map((c) => [c.operation, c.args[0], c.args[1]]) }).toEqual({ ...context, calls: [['appendUpload', sample.name, sample.id]] });
      } else {
        expect({ ...context, status: response.status, calls }).toEqual({ ...context, status: 404, calls: [] });
      }
    }
    for (const method of methodsOf(ociRouteOf('upload'))) {
      calls.length = 0;
      await router({ method, path: '/v2/a/b/blobs/uploads/xyz', query: new URLSearchParams({ token: tokens.issue('a/b', 'xyz') }), headers: {}, body: null });
      expect(calls.map((c) => c.operation)).toHaveLength(1);
    }
    expect((await router({ method: 'GET', path: '/healthz', query: new URLSearchParams(), headers: {}, body: null })).status).toBe(200);
  });

  test('GIVEN every row WHEN access control authorizes a request of it THEN it asks for the row actions (a mount: the plain upload start, the rest is canPull)', async () => {
    const asked: string[] = [];
    const access = new AccessControl({
      metadata: { getRepositoryPolicy: async () => null, getRegistryPolicy: async () => null },
      registryAccount: ACCOUNT,
      region: 'eu-west-1',
      identityPolicies: {
        identityInput: async (_principal, action) => {
          asked.push(action);
          return { identityDecision: 'allowed' };
        },
      },
      challenge: () => 'Basic realm="test"',
      policyCacheMs: 0,
    });
    for (const row of OCI_ENDPOINT_PERMISSIONS) {
      asked.length = 0;
      const request = sampleRequest(row);
      const match = matchOciRoute(request.path)!;
      await access.run(request, () => access.authorize(request, match.route.kind, { ...match.params } as Record<string, string>));
      // The catalog and stats are filtered per repository (filterCatalog), not refused as a whole.
      const expected: readonly EcrAction[] =
        row.kind === 'base' || row.kind === 'catalog' || row.kind === 'stats' ? [] : row.variant === 'mount' ? permissionFor(row.method, row.kind)!.actions : row.actions;
      expect({ row: `${row.method} ${row.path}`, asked }).toEqual({ row: `${row.method} ${row.path}`, asked: [...expected] });
    }
  });

  test('GIVEN anonymous requests WHEN the authorizer of a public registry decides THEN /v2/token passes, and pulls need the GET or HEAD row of their route', async () => {
    const publicPolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] }],
    });
    const policy = new AnonymousPullPolicy({
      metadata: { getRepositoryPolicy: async (name) => (name === 'team/app' ? publicPolicy : null), getRegistryPolicy: async () => null },
      registryAccount: ACCOUNT,
      region: 'eu-west-1',
    });
    expect(await policy.allows('GET', '/v2/token')).toBe(true);
    for (const row of OCI_ENDPOINT_PERMISSIONS) {
      const request = sampleRequest(row);
      const pull = (row.method === 'GET' || row.method === 'HEAD') && row.actions.length > 0 && row.actions.every((a) => ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'].includes(a));
      const expected = pull && row.kind !== 'catalog';
      expect({ row: `${row.method} ${row.path}`, allowed: await policy.allows(row.method, request.path) }).toEqual({ row: `${row.method} ${row.path}`, allowed: expected });
    }
  });
});
