/**
 * ECR's action vocabulary and which actions each OCI Distribution endpoint needs. This is
 * data, not code: the router looks endpoints up here, `docs/access-control.md` shows the
 * same table, and the policy parser uses the list to refuse misspelt `ecr:` actions, which
 * would otherwise never match anything and fail silently.
 */

/**
 * The ECR actions the registry knows, spelt as IAM spells them. `scope` says what IAM
 * evaluates the action against: a repository ARN, or `*` for actions that have no
 * resource (ECR does not support resource-level permissions for those).
 */
export const ECR_ACTIONS = {
  'ecr:BatchCheckLayerAvailability': { scope: 'repository' },
  'ecr:BatchDeleteImage': { scope: 'repository' },
  'ecr:BatchGetImage': { scope: 'repository' },
  'ecr:BatchGetRepositoryScanningConfiguration': { scope: 'repository' },
  'ecr:BatchImportUpstreamImage': { scope: 'repository' },
  'ecr:CompleteLayerUpload': { scope: 'repository' },
  'ecr:CreateRepository': { scope: 'repository' },
  'ecr:CreateRepositoryCreationTemplate': { scope: 'registry' },
  'ecr:DeleteLifecyclePolicy': { scope: 'repository' },
  'ecr:DeleteRegistryPolicy': { scope: 'registry' },
  'ecr:DeleteRepository': { scope: 'repository' },
  'ecr:DeleteRepositoryPolicy': { scope: 'repository' },
  'ecr:DeleteRepositoryCreationTemplate': { scope: 'registry' },
  'ecr:DescribeImageReplicationStatus': { scope: 'repository' },
  'ecr:DescribeImages': { scope: 'repository' },
  'ecr:DescribeImageScanFindings': { scope: 'repository' },
  'ecr:DescribeRegistry': { scope: 'registry' },
  'ecr:DescribeRepositories': { scope: 'repository' },
  'ecr:DescribeRepositoryCreationTemplates': { scope: 'registry' },
  'ecr:GetAccountSetting': { scope: 'registry' },
  'ecr:GetAuthorizationToken': { scope: 'registry' },
  'ecr:GetDownloadUrlForLayer': { scope: 'repository' },
  'ecr:GetLifecyclePolicy': { scope: 'repository' },
  'ecr:GetLifecyclePolicyPreview': { scope: 'repository' },
  'ecr:GetRegistryPolicy': { scope: 'registry' },
  'ecr:GetRepositoryPolicy': { scope: 'repository' },
  'ecr:InitiateLayerUpload': { scope: 'repository' },
  'ecr:ListImageReferrers': { scope: 'repository' },
  'ecr:ListImages': { scope: 'repository' },
  'ecr:ListTagsForResource': { scope: 'repository' },
  'ecr:PutAccountSetting': { scope: 'registry' },
  'ecr:PutImage': { scope: 'repository' },
  'ecr:PutImageScanningConfiguration': { scope: 'repository' },
  'ecr:PutImageTagMutability': { scope: 'repository' },
  'ecr:PutLifecyclePolicy': { scope: 'repository' },
  'ecr:PutRegistryPolicy': { scope: 'registry' },
  'ecr:PutReplicationConfiguration': { scope: 'registry' },
  'ecr:ReplicateImage': { scope: 'repository' },
  'ecr:SetRepositoryPolicy': { scope: 'repository' },
  'ecr:StartImageScan': { scope: 'repository' },
  'ecr:StartLifecyclePolicyPreview': { scope: 'repository' },
  'ecr:TagResource': { scope: 'repository' },
  'ecr:UntagResource': { scope: 'repository' },
  'ecr:UpdateRepositoryCreationTemplate': { scope: 'registry' },
  'ecr:UploadLayerPart': { scope: 'repository' },
} as const satisfies Record<string, { scope: 'repository' | 'registry' }>;

export type EcrAction = keyof typeof ECR_ACTIONS;

export const ECR_ACTION_NAMES = Object.keys(ECR_ACTIONS) as EcrAction[];

const BY_LOWER_CASE = new Map(ECR_ACTION_NAMES.map((name) => [name.toLowerCase(), name]));

/** The canonical spelling of an ECR action, matched case-insensitively as IAM does; undefined if unknown. */
export function canonicalEcrAction(action: string): EcrAction | undefined {
  return BY_LOWER_CASE.get(action.toLowerCase());
}

/** The ARN IAM evaluates an action against: the repository's, or `*` for registry-wide actions. */
export function resourceArnFor(action: EcrAction, region: string, account: string, repository: string): string {
  return ECR_ACTIONS[action].scope === 'registry' ? '*' : repositoryArn(region, account, repository);
}

export function repositoryArn(region: string, account: string, repository: string): string {
  return `arn:aws:ecr:${region}:${account}:repository/${repository}`;
}

/** The pull actions a public repository's policy grants to `Principal: "*"` (what ECR's console writes). */
export const PULL_ACTIONS: readonly EcrAction[] = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];

/** The push actions docker needs on a repository, as ECR documents them. */
export const PUSH_ACTIONS: readonly EcrAction[] = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
];

export type OciRouteKind =
  | 'base'
  | 'catalog'
  | 'tags-list'
  | 'manifest'
  | 'blob'
  | 'upload-start'
  | 'upload-monolithic'
  | 'mount'
  | 'upload'
  | 'referrers';

export interface OciEndpointPermission {
  method: 'GET' | 'HEAD' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';
  kind: OciRouteKind;
  /** As the OCI Distribution Spec writes the endpoint, for the docs. */
  path: string;
  /** Every one of these is needed on the request's repository (none: authentication only). */
  actions: readonly EcrAction[];
  /** Mount only: needed on the `from` repository too. */
  sourceActions?: readonly EcrAction[];
  note?: string;
}

/**
 * What each OCI endpoint needs. Pull endpoints map to the actions ECR's own docker pull
 * needs, push endpoints to the layer-upload actions and PutImage; endpoints ECR lacks
 * (catalog, blob delete, upload status and cancel) map to the nearest ECR action so that
 * a policy written for ECR means the same thing here.
 */
export const OCI_ENDPOINT_PERMISSIONS: readonly OciEndpointPermission[] = [
  { method: 'GET', kind: 'base', path: '/v2/', actions: [], note: 'authentication only: an anonymous request gets the challenge, any identity gets 200' },
  { method: 'HEAD', kind: 'base', path: '/v2/', actions: [], note: 'as GET' },
  {
    method: 'GET',
    kind: 'catalog',
    path: '/v2/_catalog',
    actions: ['ecr:DescribeRepositories'],
    note: 'evaluated per repository: the list holds only repositories the caller may describe',
  },
  { method: 'GET', kind: 'tags-list', path: '/v2/<name>/tags/list', actions: ['ecr:ListImages'] },
  { method: 'GET', kind: 'manifest', path: '/v2/<name>/manifests/<reference>', actions: ['ecr:BatchGetImage'] },
  { method: 'HEAD', kind: 'manifest', path: '/v2/<name>/manifests/<reference>', actions: ['ecr:BatchGetImage'] },
  { method: 'PUT', kind: 'manifest', path: '/v2/<name>/manifests/<reference>', actions: ['ecr:PutImage'] },
  { method: 'DELETE', kind: 'manifest', path: '/v2/<name>/manifests/<reference>', actions: ['ecr:BatchDeleteImage'] },
  { method: 'GET', kind: 'blob', path: '/v2/<name>/blobs/<digest>', actions: ['ecr:GetDownloadUrlForLayer'] },
  { method: 'HEAD', kind: 'blob', path: '/v2/<name>/blobs/<digest>', actions: ['ecr:BatchCheckLayerAvailability'] },
  { method: 'DELETE', kind: 'blob', path: '/v2/<name>/blobs/<digest>', actions: ['ecr:BatchDeleteImage'] },
  { method: 'POST', kind: 'upload-start', path: '/v2/<name>/blobs/uploads/', actions: ['ecr:InitiateLayerUpload'] },
  {
    method: 'POST',
    kind: 'upload-monolithic',
    path: '/v2/<name>/blobs/uploads/?digest=<digest>',
    actions: ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload'],
  },
  {
    method: 'POST',
    kind: 'mount',
    path: '/v2/<name>/blobs/uploads/?mount=<digest>&from=<other>',
    actions: ['ecr:InitiateLayerUpload', 'ecr:CompleteLayerUpload'],
    sourceActions: ['ecr:GetDownloadUrlForLayer'],
    note: 'without the source permission the mount is answered as a plain upload start (202), which needs InitiateLayerUpload only',
  },
  { method: 'GET', kind: 'upload', path: '/v2/<name>/blobs/uploads/<id>', actions: ['ecr:UploadLayerPart'], note: 'upload status' },
  { method: 'PATCH', kind: 'upload', path: '/v2/<name>/blobs/uploads/<id>', actions: ['ecr:UploadLayerPart'] },
  { method: 'PUT', kind: 'upload', path: '/v2/<name>/blobs/uploads/<id>?digest=<digest>', actions: ['ecr:CompleteLayerUpload'] },
  { method: 'DELETE', kind: 'upload', path: '/v2/<name>/blobs/uploads/<id>', actions: ['ecr:UploadLayerPart'], note: 'cancel: whoever may write to an upload may abandon it' },
  { method: 'GET', kind: 'referrers', path: '/v2/<name>/referrers/<digest>', actions: ['ecr:BatchGetImage'] },
];

/** The permission entry for one request, or undefined for a method the route does not serve. */
export function permissionFor(method: string, kind: OciRouteKind): OciEndpointPermission | undefined {
  return OCI_ENDPOINT_PERMISSIONS.find((entry) => entry.method === method && entry.kind === kind);
}
