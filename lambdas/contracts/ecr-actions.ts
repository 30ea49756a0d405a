/**
 * ECR's action vocabulary, and the repository ARNs actions are evaluated against. The policy
 * parser uses the list to refuse misspelt `ecr:` actions, which would otherwise never match
 * anything and fail silently; the OCI routes (oci-routes.ts) name the actions each endpoint
 * needs; the CDK grants (lib/) give the pull and push actions.
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
  'ecr:DeregisterPullTimeUpdateExclusion': { scope: 'registry' },
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
  'ecr:GetRegistryScanningConfiguration': { scope: 'registry' },
  'ecr:GetRepositoryPolicy': { scope: 'repository' },
  'ecr:InitiateLayerUpload': { scope: 'repository' },
  'ecr:ListImageReferrers': { scope: 'repository' },
  'ecr:ListImages': { scope: 'repository' },
  'ecr:ListPullTimeUpdateExclusions': { scope: 'registry' },
  'ecr:ListTagsForResource': { scope: 'repository' },
  'ecr:PutAccountSetting': { scope: 'registry' },
  'ecr:PutImage': { scope: 'repository' },
  'ecr:PutImageScanningConfiguration': { scope: 'repository' },
  'ecr:PutImageTagMutability': { scope: 'repository' },
  'ecr:PutLifecyclePolicy': { scope: 'repository' },
  'ecr:PutRegistryPolicy': { scope: 'registry' },
  'ecr:PutRegistryScanningConfiguration': { scope: 'registry' },
  'ecr:PutReplicationConfiguration': { scope: 'registry' },
  'ecr:RegisterPullTimeUpdateExclusion': { scope: 'registry' },
  'ecr:ReplicateImage': { scope: 'repository' },
  'ecr:SetRepositoryPolicy': { scope: 'repository' },
  'ecr:StartImageScan': { scope: 'repository' },
  'ecr:StartLifecyclePolicyPreview': { scope: 'repository' },
  'ecr:TagResource': { scope: 'repository' },
  'ecr:UntagResource': { scope: 'repository' },
  'ecr:UpdateImageStorageClass': { scope: 'repository' },
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
