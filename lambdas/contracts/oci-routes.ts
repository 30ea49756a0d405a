/**
 * The OCI Distribution routes Berth serves, written once: the router dispatches by them, the
 * Lambda authorizer recognises anonymous pulls by them, the handlers name requests in logs by
 * them, access control authorizes by them, and docs/access-control.md shows them (a unit test,
 * test/unit/oci-routes.test.ts, keeps the page equal to this table).
 *
 * Pull endpoints need the actions ECR's own docker pull needs, push endpoints the layer-upload
 * actions and PutImage; endpoints ECR lacks (catalog, stats, blob delete, upload status and cancel)
 * map to the nearest ECR action, so that a policy written for ECR means the same thing here.
 */
import type { EcrAction } from './ecr-actions';

export type OciMethod = 'GET' | 'HEAD' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';

/** What one request needs. */
export interface OciOperationSpec {
  /** Every one of these is needed on the request's repository (none: authentication only). */
  readonly actions: readonly EcrAction[];
  /** Mount only: needed on the `from` repository too. */
  readonly sourceActions?: readonly EcrAction[];
  /** The query string as the spec writes it, for the docs: `?digest=<digest>`. */
  readonly query?: string;
  readonly note?: string;
}

/** A request of the same route and method that its query makes another operation (a POST to uploads/ with `mount` is a mount). */
export interface OciVariantSpec extends OciOperationSpec {
  readonly variant: 'mount' | 'monolithic';
  /** The query parameter whose presence selects the variant; the first variant that matches wins. */
  readonly when: string;
}

export interface OciMethodSpec extends OciOperationSpec {
  readonly variants?: readonly OciVariantSpec[];
}

export interface OciRouteSpec {
  readonly kind: string;
  /** The name of its requests in logs and metrics; `<method>` stands for the lower-cased method. */
  readonly logName: string;
  /** Matched against the path as it arrives (percent-encoded); named groups: name, reference, digest, id. */
  readonly pattern: RegExp;
  /** As the OCI Distribution Spec writes the path. */
  readonly template: string;
  /** In the order an `Allow` header lists them. */
  readonly methods: { readonly [M in OciMethod]?: OciMethodSpec };
}

/**
 * Tried in this order, first match wins: a name may contain slashes, so `/v2/a/blobs/uploads`
 * is an upload start before it could be the blob `uploads` of repository `a`.
 */
export const OCI_ROUTES = [
  {
    kind: 'base',
    logName: 'ping',
    pattern: /^\/v2\/?$/,
    template: '/v2/',
    methods: {
      GET: { actions: [], note: 'authentication only: an anonymous request gets the challenge, any identity gets 200' },
      HEAD: { actions: [], note: 'as GET' },
    },
  },
  {
    kind: 'catalog',
    logName: 'catalog',
    pattern: /^\/v2\/_catalog$/,
    template: '/v2/_catalog',
    methods: {
      GET: { actions: ['ecr:DescribeRepositories'], note: 'evaluated per repository: the list holds only repositories the caller may describe' },
    },
  },
  {
    // Berth's own, like _catalog (`berth stats`): no repository name begins with `_`, so none is shadowed.
    kind: 'stats',
    logName: 'stats',
    pattern: /^\/v2\/_berth\/stats$/,
    template: '/v2/_berth/stats',
    methods: {
      GET: {
        actions: ['ecr:DescribeRepositories'],
        note: 'Berth\'s own (berth stats), authorized as the catalog: the figures cover only repositories the caller may describe; with `?repository=<name>`, that one must be describable',
      },
    },
  },
  {
    kind: 'tags-list',
    logName: 'tags.list',
    pattern: /^\/v2\/(?<name>.+)\/tags\/list$/,
    template: '/v2/<name>/tags/list',
    methods: { GET: { actions: ['ecr:ListImages'] } },
  },
  {
    kind: 'manifest',
    logName: 'manifest.<method>',
    pattern: /^\/v2\/(?<name>.+)\/manifests\/(?<reference>[^/]+)$/,
    template: '/v2/<name>/manifests/<reference>',
    methods: {
      GET: { actions: ['ecr:BatchGetImage'] },
      HEAD: { actions: ['ecr:BatchGetImage'] },
      PUT: { actions: ['ecr:PutImage'] },
      DELETE: { actions: ['ecr:BatchDeleteImage'] },
    },
  },
  {
    kind: 'upload-start',
    logName: 'upload.start',
    pattern: /^\/v2\/(?<name>.+)\/blobs\/uploads\/?$/,
    template: '/v2/<name>/blobs/uploads/',
    methods: {
      POST: {
        actions: ['ecr:InitiateLayerUpload'],
        variants: [
          {
            variant: 'mount',
            when: 'mount',
            query: '?mount=<digest>&from=<other>',
            actions: ['ecr:InitiateLayerUpload', 'ecr:CompleteLayerUpload'],
            sourceActions: ['ecr:GetDownloadUrlForLayer'],
            note: 'without the source permission the mount is answered as a plain upload start (202), which needs InitiateLayerUpload only',
          },
          {
            variant: 'monolithic',
            when: 'digest',
            query: '?digest=<digest>',
            actions: ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload'],
          },
        ],
      },
    },
  },
  {
    kind: 'upload',
    logName: 'upload.<method>',
    pattern: /^\/v2\/(?<name>.+)\/blobs\/uploads\/(?<id>[^/]+)$/,
    template: '/v2/<name>/blobs/uploads/<id>',
    methods: {
      GET: { actions: ['ecr:UploadLayerPart'], note: 'upload status' },
      PATCH: { actions: ['ecr:UploadLayerPart'] },
      PUT: { actions: ['ecr:CompleteLayerUpload'], query: '?digest=<digest>' },
      DELETE: { actions: ['ecr:UploadLayerPart'], note: 'cancel: whoever may write to an upload may abandon it' },
    },
  },
  {
    kind: 'blob',
    logName: 'blob.<method>',
    pattern: /^\/v2\/(?<name>.+)\/blobs\/(?<digest>[^/]+)$/,
    template: '/v2/<name>/blobs/<digest>',
    methods: {
      GET: { actions: ['ecr:GetDownloadUrlForLayer'] },
      HEAD: { actions: ['ecr:BatchCheckLayerAvailability'] },
      DELETE: { actions: ['ecr:BatchDeleteImage'] },
    },
  },
  {
    kind: 'referrers',
    logName: 'referrers.list',
    pattern: /^\/v2\/(?<name>.+)\/referrers\/(?<digest>[^/]+)$/,
    template: '/v2/<name>/referrers/<digest>',
    methods: { GET: { actions: ['ecr:BatchGetImage'] } },
  },
] as const satisfies readonly OciRouteSpec[];

export type OciRoute = (typeof OCI_ROUTES)[number];
export type OciRouteKind = OciRoute['kind'];
/** The methods a route serves: the router's handler table is typed by it, so it serves exactly these. */
export type OciMethodOf<K extends OciRouteKind> = keyof Extract<OciRoute, { kind: K }>['methods'] & OciMethod;

/** One row of the endpoint table: a method of a route, or a variant of one. */
export interface OciEndpointPermission {
  method: OciMethod;
  kind: OciRouteKind;
  variant?: OciVariantSpec['variant'];
  /** As the OCI Distribution Spec writes the endpoint, for the docs. */
  path: string;
  actions: readonly EcrAction[];
  sourceActions?: readonly EcrAction[];
  note?: string;
}

/** Every operation of every route, in table order (the docs' endpoint table, row by row). */
export const OCI_ENDPOINT_PERMISSIONS: readonly OciEndpointPermission[] = OCI_ROUTES.flatMap((route: OciRouteSpec) =>
  methodsOf(route).flatMap((method) => {
    const spec = route.methods[method]!;
    const row = (operation: OciOperationSpec, variant?: OciVariantSpec['variant']): OciEndpointPermission => ({
      method,
      kind: route.kind as OciRouteKind,
      ...(variant !== undefined ? { variant } : {}),
      path: `${route.template}${operation.query ?? ''}`,
      actions: operation.actions,
      ...(operation.sourceActions !== undefined ? { sourceActions: operation.sourceActions } : {}),
      ...(operation.note !== undefined ? { note: operation.note } : {}),
    });
    return [row(spec), ...(spec.variants ?? []).map((v) => row(v, v.variant))];
  }),
);

/** The methods a route serves, in its order. */
export function methodsOf(route: OciRouteSpec): OciMethod[] {
  return Object.keys(route.methods) as OciMethod[];
}

/**
 * What a request needs: the method's row, or its variant's when `query` (the request's) selects
 * one. Undefined for a method the route does not serve.
 */
export function permissionFor(method: string, kind: OciRouteKind, query?: { has(name: string): boolean }): OciEndpointPermission | undefined {
  const rows = OCI_ENDPOINT_PERMISSIONS.filter((entry) => entry.method === method && entry.kind === kind);
  const route: OciRouteSpec = ociRouteOf(kind);
  const variant = query && route.methods[method as OciMethod]?.variants?.find((v) => query.has(v.when));
  return rows.find((entry) => entry.variant === variant?.variant);
}

/** The route of a kind (each kind is one route). */
export function ociRouteOf(kind: OciRouteKind): OciRoute {
  return OCI_ROUTES.find((route) => route.kind === kind)!;
}

export interface OciRouteMatch {
  route: OciRoute;
  /** The named groups as they appear in the path (still percent-encoded). */
  params: { name?: string; reference?: string; digest?: string; id?: string };
}

/** The route a path (without query) is on, or undefined when no OCI route has it. */
export function matchOciRoute(path: string, routes: readonly OciRoute[] = OCI_ROUTES): OciRouteMatch | undefined {
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match) return { route, params: { ...match.groups } };
  }
  return undefined;
}

/** The name of a request on a route in logs and metrics: `manifest.get`. */
export function logNameOf(route: OciRouteSpec, method: string): string {
  return route.logName.replace('<method>', method.toLowerCase());
}
