import { App, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { PULL_ACTIONS, PUSH_ACTIONS } from '../../lambdas/contracts/ecr-actions';
import { RegistryStack, isValidRepositoryPattern, validateRepositoryPatterns } from '../../lib';
import { ENV } from './fixture';

const PARTNER_ENV = { account: '999999999999', region: ENV.region };
const ECR_ARN = `arn:aws:ecr:${ENV.region}:${ENV.account}:repository/`;
const LOGIN_TOKEN = { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' };

/**
 * An ARN as text: `Fn::Join` flattened, `Ref` as `${LogicalId}`, any other intrinsic as
 * `${Fn::Name}`, so that assertions can read the ARN a policy names.
 */
function arnText(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if (Array.isArray(intrinsic['Fn::Join'])) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(arnText).join(separator);
  }
  if (typeof intrinsic.Ref === 'string') return `\${${intrinsic.Ref}}`;
  return `\${${Object.keys(intrinsic)[0]}}`;
}

/** The statements of the one AWS::IAM::Policy of `template` attached to the role `roleLogicalId`. */
function statementsOf(template: Template, roleLogicalId: string): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleLogicalId }] } }));
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement;
}

/** A registry stack (no ingest service, no bundling, no cdk-nag: grantees' `*` findings are their owner's) with principals to grant to. */
function registryApp() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new RegistryStack(app, 'BerthRegistry', { env: ENV, ingest: false });
  const role = (scope: Stack, id: string) => new iam.Role(scope, id, { assumedBy: new iam.AccountRootPrincipal() });
  return { app, stack, role };
}

describe('RegistryStack grants', () => {
  // One synth for the grants in the registry's own stack.
  let cached: ReturnType<typeof build> | undefined;
  function build() {
    const { stack, role } = registryApp();
    const roles = { puller: role(stack, 'Puller'), pusher: role(stack, 'Pusher'), both: role(stack, 'PullPusher') };
    const grants = {
      pull: stack.grantPull(roles.puller),
      push: stack.grantPush(roles.pusher, 'team-a/*', 'tools/builder'),
      pullPush: stack.grantPullPush(roles.both, 'team-a/*'),
    };
    const template = Template.fromStack(stack);
    const logicalId = (r: iam.Role) => stack.getLogicalId(r.node.defaultChild as iam.CfnRole);
    const [restApi] = Object.keys(template.findResources('AWS::ApiGateway::RestApi'));
    return { stack, roles, grants, template, logicalId, restApi };
  }
  const synthesized = () => (cached ??= build());

  test('GIVEN grantPull(role) without a pattern WHEN synthesized THEN the role may invoke the control plane\'s POST /, get an authorization token and pull from every repository', () => {
    const { template, roles, logicalId, stack } = synthesized();
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(roles.puller) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: stack.resolve(stack.registryApi.controlPlaneMethodArn) },
          LOGIN_TOKEN,
          { Effect: 'Allow', Action: [...PULL_ACTIONS], Resource: `${ECR_ARN}*` },
        ]),
      },
    });
    expect(PULL_ACTIONS).toEqual(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability']);
    const actions = statementsOf(template, logicalId(roles.puller)).flatMap((s) => [s.Action].flat());
    expect(actions).not.toEqual(expect.arrayContaining(['ecr:PutImage']));
    expect(actions).not.toEqual(expect.arrayContaining(['ecr:InitiateLayerUpload']));
  });

  test('GIVEN a grant WHEN its execute-api resource is read THEN it is POST / on the stage of the REST API whose POST / uses IAM authorization, the API behind ControlPlaneEndpoint', () => {
    const { template, roles, logicalId, restApi } = synthesized();
    const invoke = statementsOf(template, logicalId(roles.puller)).find((s) => s.Action === 'execute-api:Invoke');
    expect(arnText(invoke?.Resource)).toBe(`arn:\${AWS::Partition}:execute-api:${ENV.region}:${ENV.account}:\${${restApi}}/registry/POST/`);
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      AuthorizationType: 'AWS_IAM',
      RestApiId: { Ref: restApi },
      ResourceId: { 'Fn::GetAtt': [restApi, 'RootResourceId'] },
    });
    expect(arnText(template.toJSON().Outputs.ControlPlaneEndpoint.Value)).toContain(`\${${restApi}}.execute-api.`);
  });

  test('GIVEN grantPush(role, "team-a/*", "tools/builder") WHEN synthesized THEN the role may log in and push to those repositories, with no pull-only action', () => {
    const { template, roles, logicalId } = synthesized();
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(roles.pusher) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'execute-api:Invoke' }),
          LOGIN_TOKEN,
          {
            Effect: 'Allow',
            Action: ['ecr:BatchCheckLayerAvailability', 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'],
            Resource: [`${ECR_ARN}team-a/*`, `${ECR_ARN}tools/builder`],
          },
        ]),
      },
    });
    const actions = statementsOf(template, logicalId(roles.pusher)).flatMap((s) => [s.Action].flat());
    expect(actions).not.toEqual(expect.arrayContaining(['ecr:BatchGetImage']));
    expect(actions).not.toEqual(expect.arrayContaining(['ecr:GetDownloadUrlForLayer']));
  });

  test('GIVEN grantPullPush(role, "team-a/*") WHEN synthesized THEN one statement holds the pull and push actions on team-a/*, next to the login statements', () => {
    const { template, roles, logicalId } = synthesized();
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(roles.both) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'execute-api:Invoke' }),
          LOGIN_TOKEN,
          { Effect: 'Allow', Action: [...new Set([...PULL_ACTIONS, ...PUSH_ACTIONS])], Resource: `${ECR_ARN}team-a/*` },
        ]),
      },
    });
    expect(statementsOf(template, logicalId(roles.both))).toHaveLength(3);
  });

  test('GIVEN each grant WHEN it returns THEN it is an iam.Grant that succeeded, with its three statements on the principal', () => {
    const { grants } = synthesized();
    for (const grant of Object.values(grants)) {
      expect(grant).toBeInstanceOf(iam.Grant);
      expect(grant.success).toBe(true);
      expect(grant.principalStatements.map((s) => s.actions[0])).toEqual(['execute-api:Invoke', 'ecr:GetAuthorizationToken', expect.stringMatching(/^ecr:/)]);
    }
  });

  test.each([
    ['an upper-case name', 'Team-A/*'],
    ['a trailing slash without *', 'team-a/'],
    ['an inner *', 'te*am'],
    ['two *', 'team/**'],
    ['* before a component', '*/app'],
    ['IAM\'s ? wildcard', 'team-?'],
    ['a space', 'team a'],
    ['an empty pattern', ''],
    ['a leading slash', '/team'],
    ['an empty component', 'team-a//*'],
    ['a separator no name can continue', 'a___*'],
    ['a name longer than 256 characters', 'a'.repeat(257)],
    ['a prefix no name of 256 characters can complete', `${'a'.repeat(256)}*`],
  ])('GIVEN %s (%j) WHEN granted THEN the grant throws naming the pattern and the grammar, and grants nothing', (_name, pattern) => {
    const { stack, role } = registryApp();
    const grantee = role(stack, 'Refused');
    for (const grant of [stack.grantPull, stack.grantPush, stack.grantPullPush]) {
      expect(() => grant.call(stack, grantee, 'team-b/app', pattern)).toThrow(
        `invalid repository pattern ${JSON.stringify(pattern)}. A pattern is a repository name (lowercase letters and digits, separators . _ __ -, components joined by "/", at most 256 characters) or the start of one followed by a single trailing "*"`,
      );
    }
    expect(() => stack.grantPush(grantee, pattern)).toThrow(/^RegistryStack\.grantPush: /);
    expect(grantee.node.tryFindChild('DefaultPolicy')).toBeUndefined();
  });

  test('GIVEN several invalid patterns WHEN granted THEN one error names them all', () => {
    const { stack, role } = registryApp();
    expect(() => stack.grantPull(role(stack, 'Refused'), 'ok/*', 'Bad', 'also bad')).toThrow('RegistryStack.grantPull: invalid repository patterns "Bad", "also bad".');
  });

  test('GIVEN repository names and name prefixes WHEN validated THEN they are patterns; no pattern means every repository; duplicates collapse; a token is taken as it is', () => {
    for (const pattern of ['*', 'team*', 'team-a/*', 'team-a/app', 'a__b/c.d-e', 'a_*', 'a-*', 'a--b', `${'a'.repeat(255)}*`, 'a'.repeat(256)]) {
      expect({ pattern, valid: isValidRepositoryPattern(pattern) }).toEqual({ pattern, valid: true });
    }
    expect(validateRepositoryPatterns('test', [])).toEqual(['*']);
    expect(validateRepositoryPatterns('test', ['a/*', 'b', 'a/*'])).toEqual(['a/*', 'b']);
    const token = Lazy.string({ produce: () => 'from-a-parameter' });
    expect(validateRepositoryPatterns('test', [token])).toEqual([token]);
  });

  test('GIVEN a role in another stack of the same account WHEN granted THEN its statements go to that stack\'s policy (the API id imported), as aws-cdk-lib grants do, and the registry stack gets no policy for it', () => {
    const { app, stack, role } = registryApp();
    const ci = new Stack(app, 'Ci', { env: ENV });
    const builder = role(ci, 'Builder');
    stack.grantPush(builder, 'team-a/*');
    const ciTemplate = Template.fromStack(ci);
    const statements = statementsOf(ciTemplate, ci.getLogicalId(builder.node.defaultChild as iam.CfnRole));
    expect(statements).toEqual(
      expect.arrayContaining([LOGIN_TOKEN, expect.objectContaining({ Action: [...PUSH_ACTIONS], Resource: `${ECR_ARN}team-a/*` })]),
    );
    const invoke = statements.find((s) => s.Action === 'execute-api:Invoke');
    expect(arnText(invoke?.Resource)).toBe(`arn:\${AWS::Partition}:execute-api:${ENV.region}:${ENV.account}:\${Fn::ImportValue}/registry/POST/`);
    const registryTemplate = Template.fromStack(stack);
    expect(Object.values(registryTemplate.findResources('AWS::IAM::Policy')).map((p) => JSON.stringify(p))).not.toEqual(
      expect.arrayContaining([expect.stringContaining('ecr:PutImage')]),
    );
  });

  test('GIVEN a role in a stack of another account WHEN granted THEN its own policy names the registry\'s account, region and API (a cross-account reference aws-cdk-lib resolves), and the app synthesizes', () => {
    const { app, stack, role } = registryApp();
    const partner = new Stack(app, 'Partner', { env: PARTNER_ENV });
    const puller = role(partner, 'Puller');
    stack.grantPull(puller, 'shared/*');
    expect(() => app.synth()).not.toThrow();
    const statements = statementsOf(Template.fromStack(partner), partner.getLogicalId(puller.node.defaultChild as iam.CfnRole));
    expect(statements).toEqual(expect.arrayContaining([LOGIN_TOKEN, expect.objectContaining({ Action: [...PULL_ACTIONS], Resource: `${ECR_ARN}shared/*` })]));
    const invoke = arnText(statements.find((s) => s.Action === 'execute-api:Invoke')?.Resource);
    expect(invoke).toMatch(new RegExp(`^arn:\\$\\{AWS::Partition\\}:execute-api:${ENV.region}:${ENV.account}:\\$\\{Fn::\\w+\\}/registry/POST/$`));
  });

  test('GIVEN a role imported from another account WHEN granted THEN, as iam.Grant.addToPrincipal does, nothing is attached to it in this stack (its own account must attach the policy)', () => {
    const { stack } = registryApp();
    const imported = iam.Role.fromRoleArn(stack, 'PartnerRole', `arn:aws:iam::${PARTNER_ENV.account}:role/ci`);
    const ours = stack.grantPull(imported);
    const direct = iam.Grant.addToPrincipal({ grantee: iam.Role.fromRoleArn(stack, 'PartnerRole2', `arn:aws:iam::${PARTNER_ENV.account}:role/ci2`), actions: ['ecr:BatchGetImage'], resourceArns: ['*'] });
    expect(ours.success).toBe(direct.success);
    const policies = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).map((p) => JSON.stringify(p));
    expect(policies).not.toEqual(expect.arrayContaining([expect.stringContaining('ecr:')]));
  });
});
