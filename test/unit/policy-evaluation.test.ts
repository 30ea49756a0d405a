import { PULL_ACTIONS } from '../../lambdas/contracts/ecr-actions';
import { OCI_ENDPOINT_PERMISSIONS } from '../../lambdas/contracts/oci-routes';
import { evaluate, type EvaluationInput, type Principal } from '../../lambdas/core/policy/evaluate';
import { validatePolicy } from '../../lambdas/core/policy/policy-document';

/**
 * The policy evaluation table: (policies, principal, action, context) -> decision and
 * reason. Policies are written as ECR users write them; each case names the IAM rule it
 * shows.
 */

const REGISTRY = '111111111111';
const OTHER = '222222222222';
const REPO = `arn:aws:ecr:us-east-1:${REGISTRY}:repository/team/app`;
const PROD_REPO = `arn:aws:ecr:us-east-1:${REGISTRY}:repository/prod/app`;

const alice: Principal = { arn: `arn:aws:iam::${REGISTRY}:user/alice`, account: REGISTRY };
const ciSession: Principal = { arn: `arn:aws:sts::${REGISTRY}:assumed-role/ci-pusher/build-42`, account: REGISTRY };
const registryRoot: Principal = { arn: `arn:aws:iam::${REGISTRY}:root`, account: REGISTRY };
const bob: Principal = { arn: `arn:aws:iam::${OTHER}:user/bob`, account: OTHER };
const deployerSession: Principal = { arn: `arn:aws:sts::${OTHER}:assumed-role/deployer/s1`, account: OTHER };
const otherDeployerSession: Principal = { arn: `arn:aws:sts::${OTHER}:assumed-role/deployer/s2`, account: OTHER };
const pathedDeployer: Principal = { ...deployerSession, roleArn: `arn:aws:iam::${OTHER}:role/teams/deployer` };

type Statement = Record<string, unknown>;

interface Case {
  name: string;
  principal: Principal | null;
  action: string;
  resource?: string;
  sourceIp?: string;
  /** The caller's identity policy statements; undefined: not known. */
  identity?: Statement[];
  repository?: Statement[];
  registry?: Statement[];
  options?: Pick<EvaluationInput, 'crossAccountIdentityAllowed' | 'identityDecision'>;
  expected: ['allow' | 'deny', string, string?];
}

const PULL = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
const allowAll: Statement = { Sid: 'All', Effect: 'Allow', Action: 'ecr:*', Resource: '*' };
const publicPull: Statement = { Sid: 'Public', Effect: 'Allow', Principal: '*', Action: PULL };

const cases: Case[] = [
  // Identity policies of the registry's own account.
  {
    name: 'identity policy allows the action on the repository',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'PullOnly', Effect: 'Allow', Action: PULL, Resource: REPO }],
    expected: ['allow', 'allowed-by-identity', 'PullOnly'],
  },
  {
    name: 'a pull-only identity policy does not allow a push',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [{ Sid: 'PullOnly', Effect: 'Allow', Action: PULL, Resource: REPO }],
    expected: ['deny', 'implicit-deny'],
  },
  { name: 'ecr:* allows PutImage', principal: alice, action: 'ecr:PutImage', identity: [allowAll], expected: ['allow', 'allowed-by-identity', 'All'] },
  {
    name: 'ecr:Batch* allows BatchGetImage',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'Batch', Effect: 'Allow', Action: 'ecr:Batch*', Resource: '*' }],
    expected: ['allow', 'allowed-by-identity', 'Batch'],
  },
  {
    name: 'ecr:Batch* does not allow GetDownloadUrlForLayer',
    principal: alice,
    action: 'ecr:GetDownloadUrlForLayer',
    identity: [{ Sid: 'Batch', Effect: 'Allow', Action: 'ecr:Batch*', Resource: '*' }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'ecr:?etDownloadUrlForLayer allows GetDownloadUrlForLayer',
    principal: alice,
    action: 'ecr:GetDownloadUrlForLayer',
    identity: [{ Sid: 'Q', Effect: 'Allow', Action: 'ecr:?etDownloadUrlForLayer', Resource: '*' }],
    expected: ['allow', 'allowed-by-identity', 'Q'],
  },
  {
    name: '? matches exactly one character',
    principal: alice,
    action: 'ecr:GetDownloadUrlForLayer',
    identity: [{ Sid: 'Q', Effect: 'Allow', Action: 'ecr:?DownloadUrlForLayer', Resource: '*' }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'service prefix and action name match case-insensitively',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'Case', Effect: 'Allow', Action: 'ECR:batchgetimage', Resource: REPO }],
    expected: ['allow', 'allowed-by-identity', 'Case'],
  },
  {
    name: 'another service\'s wildcard does not match an ECR action',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'S3', Effect: 'Allow', Action: 's3:*', Resource: '*' }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a Resource wildcard covers the repositories under a prefix',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [{ Sid: 'Team', Effect: 'Allow', Action: 'ecr:*', Resource: `arn:aws:ecr:*:${REGISTRY}:repository/team/*` }],
    expected: ['allow', 'allowed-by-identity', 'Team'],
  },
  {
    name: 'a Resource wildcard does not cover other prefixes',
    principal: alice,
    action: 'ecr:PutImage',
    resource: PROD_REPO,
    identity: [{ Sid: 'Team', Effect: 'Allow', Action: 'ecr:*', Resource: `arn:aws:ecr:*:${REGISTRY}:repository/team/*` }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a Resource ? wildcard matches one character',
    principal: alice,
    action: 'ecr:ListImages',
    identity: [{ Sid: 'Q', Effect: 'Allow', Action: 'ecr:ListImages', Resource: `arn:aws:ecr:us-east-1:${REGISTRY}:repository/team/ap?` }],
    expected: ['allow', 'allowed-by-identity', 'Q'],
  },
  {
    name: 'NotResource allows everything but the excluded repositories',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [{ Sid: 'NotProd', Effect: 'Allow', Action: 'ecr:*', NotResource: `arn:aws:ecr:*:${REGISTRY}:repository/prod/*` }],
    expected: ['allow', 'allowed-by-identity', 'NotProd'],
  },
  {
    name: 'NotResource does not allow the excluded repositories',
    principal: alice,
    action: 'ecr:PutImage',
    resource: PROD_REPO,
    identity: [{ Sid: 'NotProd', Effect: 'Allow', Action: 'ecr:*', NotResource: `arn:aws:ecr:*:${REGISTRY}:repository/prod/*` }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'NotAction allows the actions it does not name',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [{ Sid: 'NoDelete', Effect: 'Allow', NotAction: ['ecr:Delete*', 'ecr:BatchDeleteImage'], Resource: '*' }],
    expected: ['allow', 'allowed-by-identity', 'NoDelete'],
  },
  {
    name: 'NotAction does not allow the actions it names',
    principal: alice,
    action: 'ecr:DeleteRepository',
    identity: [{ Sid: 'NoDelete', Effect: 'Allow', NotAction: ['ecr:Delete*', 'ecr:BatchDeleteImage'], Resource: '*' }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'GetAuthorizationToken is evaluated against "*", so a repository-scoped statement does not allow it',
    principal: alice,
    action: 'ecr:GetAuthorizationToken',
    resource: '*',
    identity: [{ Sid: 'Repo', Effect: 'Allow', Action: 'ecr:*', Resource: REPO }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'GetAuthorizationToken with Resource "*"',
    principal: alice,
    action: 'ecr:GetAuthorizationToken',
    resource: '*',
    identity: [{ Sid: 'Login', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' }],
    expected: ['allow', 'allowed-by-identity', 'Login'],
  },

  // Explicit deny wins.
  {
    name: 'an identity Deny wins over an identity Allow',
    principal: alice,
    action: 'ecr:DeleteRepository',
    identity: [allowAll, { Sid: 'NoDelete', Effect: 'Deny', Action: 'ecr:DeleteRepository', Resource: '*' }],
    expected: ['deny', 'explicit-deny', 'NoDelete'],
  },
  {
    name: 'a repository-policy Deny wins over an identity Allow',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [allowAll],
    repository: [{ Sid: 'Frozen', Effect: 'Deny', Principal: '*', Action: 'ecr:PutImage' }],
    expected: ['deny', 'explicit-deny', 'Frozen'],
  },
  {
    name: 'an identity Deny wins over a repository-policy Allow',
    principal: bob,
    action: 'ecr:BatchGetImage',
    identity: [allowAll, { Sid: 'NoPull', Effect: 'Deny', Action: 'ecr:BatchGetImage', Resource: '*' }],
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['deny', 'explicit-deny', 'NoPull'],
  },
  {
    name: 'a Deny naming the account applies to every identity of the account (deny is not delegated)',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [allowAll],
    repository: [{ Sid: 'NoPush', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${REGISTRY}:root` }, Action: 'ecr:PutImage' }],
    expected: ['deny', 'explicit-deny', 'NoPush'],
  },
  {
    name: 'a registry-policy Deny wins over a repository-policy Allow',
    principal: bob,
    action: 'ecr:BatchGetImage',
    registry: [{ Sid: 'NoOther', Effect: 'Deny', Principal: { AWS: OTHER }, Action: 'ecr:*' }],
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['deny', 'explicit-deny', 'NoOther'],
  },

  // Same account through a resource policy.
  {
    name: 'a repository policy naming the user allows it without an identity policy',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [],
    repository: [{ Sid: 'Alice', Effect: 'Allow', Principal: { AWS: alice.arn }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Alice'],
  },
  {
    name: 'a repository policy naming the own account only delegates to identity policies',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [],
    repository: [{ Sid: 'Account', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${REGISTRY}:root` }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'the account root user may act in its own account without policies',
    principal: registryRoot,
    action: 'ecr:DeleteRepository',
    identity: [],
    expected: ['allow', 'allowed-by-identity'],
  },
  {
    name: 'a role principal matches the sessions of the role',
    principal: ciSession,
    action: 'ecr:PutImage',
    identity: [],
    repository: [{ Sid: 'CI', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${REGISTRY}:role/ci-pusher` }, Action: 'ecr:PutImage' }],
    expected: ['allow', 'allowed-by-resource', 'CI'],
  },
  {
    name: 'unknown identity policies of the own account allow nothing by themselves',
    principal: alice,
    action: 'ecr:BatchGetImage',
    expected: ['deny', 'implicit-deny'],
  },

  // Cross account.
  {
    name: 'another account needs a resource policy even when its identity policy allows',
    principal: bob,
    action: 'ecr:BatchGetImage',
    identity: [allowAll],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a repository policy naming the account id allows its identities to pull',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Other'],
  },
  {
    name: 'the :root form names the account the same way',
    principal: bob,
    action: 'ecr:GetDownloadUrlForLayer',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Other'],
  },
  {
    name: 'a pull grant does not allow another account to push',
    principal: bob,
    action: 'ecr:PutImage',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'another account also needs its own identity policy to allow, when known',
    principal: bob,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'S3Only', Effect: 'Allow', Action: 's3:*', Resource: '*' }],
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'resource and identity policy both allowing a cross-account pull',
    principal: bob,
    action: 'ecr:BatchGetImage',
    identity: [{ Sid: 'Pull', Effect: 'Allow', Action: 'ecr:BatchGetImage', Resource: 'arn:aws:ecr:*:*:repository/*' }],
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Other'],
  },
  {
    name: 'crossAccountIdentityAllowed: false refuses when identity policies are unknown',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    options: { crossAccountIdentityAllowed: false },
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'an identity decision from IAM (allowed) stands in for identity policies',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    options: { identityDecision: 'allowed', crossAccountIdentityAllowed: false },
    expected: ['allow', 'allowed-by-resource', 'Other'],
  },
  {
    name: 'an identity decision from IAM (explicitDeny) wins',
    principal: alice,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Alice', Effect: 'Allow', Principal: { AWS: alice.arn }, Action: PULL }],
    options: { identityDecision: 'explicitDeny' },
    expected: ['deny', 'explicit-deny'],
  },
  {
    name: 'a registry policy with a repository wildcard Resource allows another account',
    principal: bob,
    action: 'ecr:BatchGetImage',
    registry: [{ Sid: 'Reg', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL, Resource: `arn:aws:ecr:us-east-1:${REGISTRY}:repository/*` }],
    expected: ['allow', 'allowed-by-resource', 'Reg'],
  },
  {
    name: 'a registry policy Resource limits which repositories it opens',
    principal: bob,
    action: 'ecr:BatchGetImage',
    registry: [{ Sid: 'Reg', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL, Resource: `arn:aws:ecr:us-east-1:${REGISTRY}:repository/public/*` }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a cross-account role principal matches its sessions',
    principal: deployerSession,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Deployer', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:role/deployer` }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Deployer'],
  },
  {
    name: 'an assumed-role principal matches only that session',
    principal: otherDeployerSession,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Session', Effect: 'Allow', Principal: { AWS: deployerSession.arn }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a user principal does not match another user of the same account',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Carol', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:user/carol` }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },

  // Conditions on the principal.
  {
    name: 'ArnLike on aws:PrincipalArn sees a session as its role',
    principal: deployerSession,
    action: 'ecr:BatchGetImage',
    repository: [
      { Sid: 'Deploy', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${OTHER}:role/deploy*` } } },
    ],
    expected: ['allow', 'allowed-by-resource', 'Deploy'],
  },
  {
    name: 'ArnLike on aws:PrincipalArn uses the role path when known',
    principal: pathedDeployer,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Teams', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/teams/*' } } }],
    expected: ['allow', 'allowed-by-resource', 'Teams'],
  },
  {
    name: 'ArnLike is case-sensitive',
    principal: deployerSession,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Case', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${OTHER}:role/Deploy*` } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a Deny with ArnNotLike keeps pushes to CI roles',
    principal: alice,
    action: 'ecr:PutImage',
    identity: [allowAll],
    repository: [
      { Sid: 'OnlyCI', Effect: 'Deny', Principal: '*', Action: 'ecr:PutImage', Condition: { ArnNotLike: { 'aws:PrincipalArn': `arn:aws:iam::${REGISTRY}:role/ci-*` } } },
    ],
    expected: ['deny', 'explicit-deny', 'OnlyCI'],
  },
  {
    name: 'the CI role passes that ArnNotLike Deny',
    principal: ciSession,
    action: 'ecr:PutImage',
    identity: [allowAll],
    repository: [
      { Sid: 'OnlyCI', Effect: 'Deny', Principal: '*', Action: 'ecr:PutImage', Condition: { ArnNotLike: { 'aws:PrincipalArn': `arn:aws:iam::${REGISTRY}:role/ci-*` } } },
    ],
    expected: ['allow', 'allowed-by-identity', 'All'],
  },
  {
    name: 'StringLike on aws:PrincipalArn',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Users', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringLike: { 'aws:PrincipalArn': `arn:aws:iam::${OTHER}:user/*` } } }],
    expected: ['allow', 'allowed-by-resource', 'Users'],
  },
  {
    name: 'StringEquals on aws:PrincipalAccount ORs its values',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Org', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringEquals: { 'aws:PrincipalAccount': ['333333333333', OTHER] } } }],
    expected: ['allow', 'allowed-by-resource', 'Org'],
  },
  {
    name: 'StringEquals on aws:PrincipalAccount refuses other accounts',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Org', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringEquals: { 'aws:PrincipalAccount': '333333333333' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'Principal "*" limited to the own account by condition allows its identities directly',
    principal: alice,
    action: 'ecr:BatchGetImage',
    identity: [],
    repository: [{ Sid: 'Own', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringEquals: { 'aws:PrincipalAccount': REGISTRY } } }],
    expected: ['allow', 'allowed-by-resource', 'Own'],
  },
  {
    name: 'condition keys are case-insensitive',
    principal: bob,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Org', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringEquals: { 'AWS:principalaccount': OTHER } } }],
    expected: ['allow', 'allowed-by-resource', 'Org'],
  },

  // Anonymous callers and public repositories.
  { name: 'Principal "*" pull actions allow an anonymous pull', principal: null, action: 'ecr:BatchGetImage', repository: [publicPull], expected: ['allow', 'allowed-by-resource', 'Public'] },
  { name: 'a public repository still refuses anonymous pushes', principal: null, action: 'ecr:PutImage', repository: [publicPull], expected: ['deny', 'implicit-deny'] },
  {
    name: 'Principal {"AWS": "*"} is the same as "*"',
    principal: null,
    action: 'ecr:GetDownloadUrlForLayer',
    repository: [{ Sid: 'Public', Effect: 'Allow', Principal: { AWS: '*' }, Action: PULL }],
    expected: ['allow', 'allowed-by-resource', 'Public'],
  },
  { name: 'a public repository allows pulls from any account too', principal: bob, action: 'ecr:BatchGetImage', repository: [publicPull], expected: ['allow', 'allowed-by-resource', 'Public'] },
  {
    name: 'an anonymous caller does not match an account principal',
    principal: null,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Other', Effect: 'Allow', Principal: { AWS: OTHER }, Action: PULL }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'an anonymous caller fails a positive condition on a principal key (the key is missing)',
    principal: null,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Org', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringLike: { 'aws:PrincipalAccount': '*' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'an anonymous caller satisfies a negated condition on a missing key, as in IAM',
    principal: null,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'NotOrg', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringNotEquals: { 'aws:PrincipalAccount': '999999999999' } } }],
    expected: ['allow', 'allowed-by-resource', 'NotOrg'],
  },
  {
    name: '...IfExists makes a missing key satisfy the condition',
    principal: null,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'IfExists', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { StringEqualsIfExists: { 'aws:PrincipalAccount': OTHER } } }],
    expected: ['allow', 'allowed-by-resource', 'IfExists'],
  },
  {
    name: 'identity policies never apply to an anonymous caller',
    principal: null,
    action: 'ecr:BatchGetImage',
    identity: [allowAll],
    expected: ['deny', 'implicit-deny'],
  },

  // Source addresses.
  {
    name: 'IpAddress allows a client inside the IPv4 block',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '203.0.113.7',
    repository: [{ Sid: 'Office', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }],
    expected: ['allow', 'allowed-by-resource', 'Office'],
  },
  {
    name: 'IpAddress refuses a client outside the block',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '198.51.100.1',
    repository: [{ Sid: 'Office', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'IpAddress matches an IPv6 block',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '2001:db8:1::5',
    repository: [{ Sid: 'V6', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:db8::/32'] } } }],
    expected: ['allow', 'allowed-by-resource', 'V6'],
  },
  {
    name: 'an IPv6 client outside the IPv6 block',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '2001:db9::1',
    repository: [{ Sid: 'V6', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'an IPv4-mapped IPv6 client address is matched as IPv4',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '::ffff:203.0.113.9',
    repository: [{ Sid: 'Office', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }],
    expected: ['allow', 'allowed-by-resource', 'Office'],
  },
  {
    name: 'a single address without a prefix length is a /32',
    principal: null,
    action: 'ecr:BatchGetImage',
    sourceIp: '192.0.2.11',
    repository: [{ Sid: 'One', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.10' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'a Deny with NotIpAddress lets clients of the network through',
    principal: alice,
    action: 'ecr:PutImage',
    sourceIp: '10.1.2.3',
    identity: [allowAll, { Sid: 'OnlyVpc', Effect: 'Deny', Action: 'ecr:*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '::1/128'] } } }],
    expected: ['allow', 'allowed-by-identity', 'All'],
  },
  {
    name: 'a Deny with NotIpAddress refuses clients outside the network',
    principal: alice,
    action: 'ecr:PutImage',
    sourceIp: '192.0.2.1',
    identity: [allowAll, { Sid: 'OnlyVpc', Effect: 'Deny', Action: 'ecr:*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '::1/128'] } } }],
    expected: ['deny', 'explicit-deny', 'OnlyVpc'],
  },
  {
    name: 'NotIpAddress matches the IPv6 loopback as inside',
    principal: alice,
    action: 'ecr:PutImage',
    sourceIp: '::1',
    identity: [allowAll, { Sid: 'OnlyVpc', Effect: 'Deny', Action: 'ecr:*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '::1/128'] } } }],
    expected: ['allow', 'allowed-by-identity', 'All'],
  },
  {
    name: 'IpAddress fails when the request has no source address',
    principal: null,
    action: 'ecr:BatchGetImage',
    repository: [{ Sid: 'Office', Effect: 'Allow', Principal: '*', Action: PULL, Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } } }],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'operators and keys are ANDed: the right account from the wrong address is refused',
    principal: bob,
    action: 'ecr:BatchGetImage',
    sourceIp: '198.51.100.1',
    repository: [
      {
        Sid: 'Both',
        Effect: 'Allow',
        Principal: '*',
        Action: PULL,
        Condition: { StringEquals: { 'aws:PrincipalAccount': OTHER }, IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } },
      },
    ],
    expected: ['deny', 'implicit-deny'],
  },
  {
    name: 'operators and keys are ANDed: the right account from the right address is allowed',
    principal: bob,
    action: 'ecr:BatchGetImage',
    sourceIp: '203.0.113.200',
    repository: [
      {
        Sid: 'Both',
        Effect: 'Allow',
        Principal: '*',
        Action: PULL,
        Condition: { StringEquals: { 'aws:PrincipalAccount': OTHER }, IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } },
      },
    ],
    expected: ['allow', 'allowed-by-resource', 'Both'],
  },
];

function document(statements: Statement[], kind: 'identity' | 'repository' | 'registry') {
  return validatePolicy({ Version: '2012-10-17', Statement: statements }, kind);
}

describe('policy evaluation', () => {
  test('the table has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const resourcePolicies = [
      ...(c.registry ? [{ name: 'registry', document: document(c.registry, 'registry') }] : []),
      ...(c.repository ? [{ name: 'repository:team/app', document: document(c.repository, 'repository') }] : []),
    ];
    const result = evaluate(
      { action: c.action, resourceArn: c.resource ?? REPO, principal: c.principal, context: { sourceIp: c.sourceIp } },
      {
        // An empty list is "known to have no identity policy", unlike undefined.
        identityPolicies: c.identity && (c.identity.length > 0 ? [{ name: 'identity', document: document(c.identity, 'identity') }] : []),
        resourcePolicies,
        registryAccount: REGISTRY,
        ...c.options,
      },
    );
    const [decision, reason, sid] = c.expected;
    expect({ decision: result.decision, reason: result.reason }).toEqual({ decision, reason });
    expect(result.statement?.sid).toBe(sid);
  });

  test('a decision names the policy and position of the deciding statement', () => {
    const result = evaluate(
      { action: 'ecr:PutImage', resourceArn: REPO, principal: alice },
      {
        identityPolicies: [{ name: 'identity:alice', document: document([allowAll], 'identity') }],
        resourcePolicies: [{ name: 'repository:team/app', document: document([publicPull, { Effect: 'Deny', Principal: '*', Action: 'ecr:PutImage' }], 'repository') }],
        registryAccount: REGISTRY,
      },
    );
    expect(result).toEqual({ decision: 'deny', reason: 'explicit-deny', statement: { policy: 'repository:team/app', sid: undefined, index: 1 } });
  });

  test('policies of the wrong kind are a programming error', () => {
    const identity = { name: 'identity', document: document([allowAll], 'identity') };
    expect(() => evaluate({ action: 'ecr:PutImage', resourceArn: REPO, principal: alice }, { resourcePolicies: [identity], registryAccount: REGISTRY })).toThrow(
      /identity policy, not a resource policy/,
    );
  });
});

// The table itself (docs, actions, router, authorizer): test/unit/oci-routes.test.ts.
describe('the OCI endpoint table', () => {
  test('a public pull policy grants what the pull endpoints need', () => {
    const publicPolicy = { name: 'repository:team/app', document: document([publicPull], 'repository') };
    const pullEndpoints = OCI_ENDPOINT_PERMISSIONS.filter((entry) => (entry.method === 'GET' || entry.method === 'HEAD') && ['manifest', 'blob'].includes(entry.kind));
    for (const entry of pullEndpoints) {
      for (const action of entry.actions) {
        expect(evaluate({ action, resourceArn: REPO, principal: null }, { resourcePolicies: [publicPolicy], registryAccount: REGISTRY }).decision).toBe('allow');
      }
    }
    expect(PULL_ACTIONS).toEqual(PULL);
  });
});
