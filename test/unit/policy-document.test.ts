import { MAX_POLICY_LENGTH, PolicyValidationError, parsePolicyDocument, type PolicyKind } from '../../lambdas/core/policy/policy-document';

/**
 * Policy validation: what is accepted, and for what is not, the exact message the ECR API
 * returns in its InvalidParameterException.
 */

const ACCOUNT = '123456789012';
const REPO = `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/team/app`;
const pull = { Sid: 'Pull', Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] };

const policy = (...statements: unknown[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

describe('valid policies', () => {
  test('the public-repository policy ECR users write parses', () => {
    const text = JSON.stringify({
      Version: '2008-10-17',
      Statement: [{ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }],
    });
    const document = parsePolicyDocument(text, 'repository');
    expect(document).toMatchObject({ kind: 'repository', version: '2008-10-17' });
    expect(document.statements[0]).toMatchObject({ sid: 'Public', effect: 'Allow', principals: [{ kind: 'anyone' }], conditions: [] });
  });

  test('a single Statement object, every principal form, and conditions', () => {
    const text = JSON.stringify({
      Statement: {
        Effect: 'Deny',
        Principal: {
          AWS: [
            '*',
            ACCOUNT,
            `arn:aws:iam::${ACCOUNT}:root`,
            `arn:aws:iam::${ACCOUNT}:user/dev/alice`,
            `arn:aws:iam::${ACCOUNT}:role/teams/ci`,
            `arn:aws:sts::${ACCOUNT}:assumed-role/ci/session-1`,
          ],
        },
        NotAction: 'ecr:Batch*',
        Condition: {
          StringNotLikeIfExists: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/admin' },
          NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'] },
        },
      },
    });
    const document = parsePolicyDocument(text, 'repository');
    expect(document.version).toBe('2008-10-17');
    expect(document.statements[0].principals).toEqual([
      { kind: 'anyone' },
      { kind: 'account', account: ACCOUNT },
      { kind: 'account', account: ACCOUNT },
      { kind: 'user', arn: `arn:aws:iam::${ACCOUNT}:user/dev/alice` },
      { kind: 'role', arn: `arn:aws:iam::${ACCOUNT}:role/teams/ci`, account: ACCOUNT, name: 'ci' },
      { kind: 'assumed-role', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/ci/session-1` },
    ]);
    expect(document.statements[0].conditions).toEqual([
      { operator: 'StringNotLike', ifExists: true, key: 'aws:PrincipalArn', values: ['arn:aws:iam::*:role/admin'] },
      { operator: 'NotIpAddress', ifExists: false, key: 'aws:SourceIp', values: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'] },
    ]);
  });

  test('identity policies name resources, and may carry other services\' actions', () => {
    const text = policy(
      { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      { Effect: 'Allow', Action: ['ecr:*', 's3:GetObject'], Resource: [REPO, `arn:aws:ecr:*:${ACCOUNT}:repository/team/*`, 'arn:aws:s3:::bucket/*'] },
      { Effect: 'Deny', Action: 'ecr:Delete*', NotResource: `arn:aws:ecr:us-east-1:${ACCOUNT}:*` },
    );
    expect(parsePolicyDocument(text, 'identity').statements).toHaveLength(3);
  });

  test('a registry policy may limit its statements to repositories', () => {
    const text = policy({ ...pull, Action: ['ecr:CreateRepository', 'ecr:ReplicateImage'], Resource: `arn:aws:ecr:us-west-2:${ACCOUNT}:repository/*` });
    expect(parsePolicyDocument(text, 'registry').statements[0].resources).toEqual({ negated: false, patterns: [`arn:aws:ecr:us-west-2:${ACCOUNT}:repository/*`] });
  });

  test(`exactly ${MAX_POLICY_LENGTH} characters is accepted`, () => {
    const text = policy(pull);
    const padded = text + ' '.repeat(MAX_POLICY_LENGTH - text.length);
    expect(parsePolicyDocument(padded, 'repository').statements).toHaveLength(1);
  });
});

describe('malformed policies', () => {
  const cases: Array<[string, string, PolicyKind, string]> = [
    ['empty text', '  ', 'repository', 'policy text is empty'],
    ['too long', policy(pull) + ' '.repeat(MAX_POLICY_LENGTH), 'repository', `policy is ${policy(pull).length + MAX_POLICY_LENGTH} characters; the limit is ${MAX_POLICY_LENGTH}`],
    ['not JSON', '{"Version": "2012-10-17",', 'repository', expect.stringMatching(/^policy is not valid JSON: /) as unknown as string],
    ['a JSON array', '[]', 'repository', 'policy must be a JSON object'],
    ['an unknown top-level element', JSON.stringify({ Version: '2012-10-17', Statements: [pull] }), 'repository', 'unknown policy element "Statements"; a policy has Version, Id, Statement'],
    ['a wrong Version', JSON.stringify({ Version: '2012-10-18', Statement: [pull] }), 'repository', 'Version must be "2012-10-17" or "2008-10-17"'],
    ['no Statement', JSON.stringify({ Version: '2012-10-17' }), 'repository', 'Statement is required'],
    ['an empty Statement array', policy(), 'repository', 'Statement must not be empty'],
    ['a statement that is not an object', policy(pull, 'Allow'), 'repository', 'Statement[1] must be an object'],
    ['a wrong Effect', policy(pull, { ...pull, Sid: 'Two', Effect: 'allow' }), 'repository', 'Statement[1].Effect must be "Allow" or "Deny"'],
    ['a missing Effect in a single statement', JSON.stringify({ Statement: { Principal: '*', Action: 'ecr:*' } }), 'repository', 'Statement.Effect must be "Allow" or "Deny"'],
    ['an unknown statement element', policy({ ...pull, Actions: 'ecr:*' }), 'repository', 'Statement[0] has unknown element "Actions"; a statement has Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition'],
    ['a Sid that is not a string', policy({ ...pull, Sid: 7 }), 'repository', 'Statement[0].Sid must be a string'],
    ['duplicate Sids', policy(pull, pull), 'repository', 'Sid "Pull" is used by more than one statement; Sids must be unique'],
    ['no Principal in a repository policy', policy({ Effect: 'Allow', Action: 'ecr:*' }), 'repository', 'Statement[0].Principal is required in a repository policy'],
    ['a Principal in an identity policy', policy({ ...pull, Resource: '*' }), 'identity', 'Statement[0].Principal is not allowed in an identity policy (it applies to the identity it is attached to)'],
    [
      'NotPrincipal',
      policy({ Effect: 'Deny', NotPrincipal: { AWS: ACCOUNT }, Action: 'ecr:*' }),
      'repository',
      'Statement[0].NotPrincipal is not supported; name the principals in Principal (with a Deny statement to exclude some)',
    ],
    ['a Service principal', policy({ ...pull, Principal: { Service: 'codebuild.amazonaws.com' } }), 'repository', 'Statement[0].Principal.Service is not supported; only AWS principals (account ids, IAM ARNs, "*") can call this registry'],
    ['a Principal string other than "*"', policy({ ...pull, Principal: ACCOUNT }), 'repository', 'Statement[0].Principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}'],
    ['an empty principal list', policy({ ...pull, Principal: { AWS: [] } }), 'repository', 'Statement[0].Principal.AWS must not be an empty array'],
    [
      'a short account id',
      policy({ ...pull, Principal: { AWS: [ACCOUNT, 'arn:aws:iam::12345:root'] } }),
      'repository',
      'Statement[0].Principal.AWS[1] "arn:aws:iam::12345:root" is not a principal: expected "*", a 12-digit account id, or arn:aws:iam::<account>:root, arn:aws:iam::<account>:user/<name>, arn:aws:iam::<account>:role/<name>, arn:aws:sts::<account>:assumed-role/<role>/<session>',
    ],
    [
      'a wildcard principal ARN',
      policy({ ...pull, Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/ci-*` } }),
      'repository',
      `Statement[0].Principal.AWS "arn:aws:iam::${ACCOUNT}:role/ci-*": a principal cannot contain wildcards except "*" alone; match ARNs with a Condition such as ArnLike on aws:PrincipalArn`,
    ],
    ['both Action and NotAction', policy({ ...pull, NotAction: 'ecr:PutImage' }), 'repository', 'Statement[0] must have exactly one of Action or NotAction'],
    ['neither Action nor NotAction', policy({ Effect: 'Allow', Principal: '*' }), 'repository', 'Statement[0] must have exactly one of Action or NotAction'],
    ['an Action that is a number', policy({ ...pull, Action: ['ecr:BatchGetImage', 42] }), 'repository', 'Statement[0].Action[1] must be a string'],
    [
      'an Action without a service prefix',
      policy({ ...pull, Action: 'BatchGetImage' }),
      'repository',
      'Statement[0].Action "BatchGetImage" must be "*" or "<service>:<action>" (wildcards * and ? allowed in the action name)',
    ],
    ['a misspelt ECR action', policy({ ...pull, Action: ['ecr:BatchGetImage', 'ecr:BatchGetImages'] }), 'repository', 'Statement[0].Action[1] "ecr:BatchGetImages" is not an ECR action'],
    ['another service in a repository policy', policy({ ...pull, Action: 's3:GetObject' }), 'repository', 'Statement[0].Action "s3:GetObject" is not an ECR action; a repository policy can only grant ecr: actions'],
    ['a Resource in a repository policy', policy({ ...pull, Resource: REPO }), 'repository', 'Statement[0].Resource is not allowed in a repository policy (it applies to the repository it is set on)'],
    ['no Resource in an identity policy', policy({ Effect: 'Allow', Action: 'ecr:*' }), 'identity', 'Statement[0] must have Resource or NotResource'],
    ['both Resource and NotResource', policy({ Effect: 'Allow', Action: 'ecr:*', Resource: '*', NotResource: REPO }), 'identity', 'Statement[0] must have only one of Resource or NotResource'],
    [
      'a Resource that is not an ARN',
      policy({ Effect: 'Allow', Action: 'ecr:*', Resource: 'team/app' }),
      'identity',
      'Statement[0].Resource "team/app" must be "*" or an ARN such as arn:aws:ecr:<region>:<account>:repository/<name> (wildcards * and ? allowed)',
    ],
    [
      'an ECR ARN that is not a repository',
      policy({ Effect: 'Allow', Action: 'ecr:*', Resource: [REPO, `arn:aws:ecr:us-east-1:${ACCOUNT}:repo/app`] }),
      'identity',
      `Statement[0].Resource[1] "arn:aws:ecr:us-east-1:${ACCOUNT}:repo/app" must be "*" or an ARN such as arn:aws:ecr:<region>:<account>:repository/<name> (wildcards * and ? allowed)`,
    ],
    [
      'an unsupported condition operator',
      policy({ ...pull, Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } } }),
      'repository',
      'Statement[0].Condition operator "DateGreaterThan" is not supported; supported: StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike, ArnNotLike, IpAddress, NotIpAddress (each also with IfExists)',
    ],
    [
      'a set qualifier',
      policy({ ...pull, Condition: { 'ForAnyValue:StringEquals': { 'aws:PrincipalAccount': ACCOUNT } } }),
      'repository',
      'Statement[0].Condition operator "ForAnyValue:StringEquals" is not supported: the supported keys have one value, so use the operator without the set qualifier',
    ],
    [
      'an unsupported condition key',
      policy({ ...pull, Condition: { StringEquals: { 'aws:username': 'alice' } } }),
      'repository',
      'Statement[0].Condition.StringEquals key "aws:username" is not supported; supported keys: aws:PrincipalArn, aws:PrincipalAccount, aws:SourceIp',
    ],
    [
      'a string operator on aws:SourceIp',
      policy({ ...pull, Condition: { StringLike: { 'aws:SourceIp': '10.*' } } }),
      'repository',
      'Statement[0].Condition.StringLike["aws:SourceIp"]: aws:SourceIp cannot be tested with StringLike; use IpAddress, NotIpAddress',
    ],
    [
      'an Arn operator on aws:PrincipalAccount',
      policy({ ...pull, Condition: { ArnLike: { 'aws:PrincipalAccount': ACCOUNT } } }),
      'repository',
      'Statement[0].Condition.ArnLike["aws:PrincipalAccount"]: aws:PrincipalAccount cannot be tested with ArnLike; use StringEquals, StringNotEquals, StringLike, StringNotLike',
    ],
    [
      'a CIDR with a prefix too long',
      policy({ ...pull, Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '10.0.0.0/33'] } } }),
      'repository',
      'Statement[0].Condition.IpAddress["aws:SourceIp"][1] "10.0.0.0/33" is not an IP address or CIDR block (such as 203.0.113.0/24 or 2001:db8::/32)',
    ],
    [
      'an IPv6 block that is not an address',
      policy({ ...pull, Condition: { NotIpAddress: { 'aws:SourceIp': '2001:db8:::/48' } } }),
      'repository',
      'Statement[0].Condition.NotIpAddress["aws:SourceIp"] "2001:db8:::/48" is not an IP address or CIDR block (such as 203.0.113.0/24 or 2001:db8::/32)',
    ],
    [
      'an ArnLike value that is not an ARN',
      policy({ ...pull, Condition: { ArnLike: { 'aws:PrincipalArn': 'role/ci-*' } } }),
      'repository',
      'Statement[0].Condition.ArnLike["aws:PrincipalArn"] "role/ci-*" is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>, wildcards allowed)',
    ],
    ['a condition value that is a number', policy({ ...pull, Condition: { StringEquals: { 'aws:PrincipalAccount': [123] } } }), 'repository', 'Statement[0].Condition.StringEquals["aws:PrincipalAccount"][0] must be a string'],
    ['a condition that is not an object', policy({ ...pull, Condition: 'StringEquals' }), 'repository', 'Statement[0].Condition must be an object of operators, such as {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}'],
  ];

  test('there are at least 15 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  test.each(cases)('%s', (_what, text, kind, message) => {
    let error: unknown;
    try {
      parsePolicyDocument(text, kind);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyValidationError);
    expect((error as Error).message).toEqual(message);
  });
});
