import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RegistryApi, RegistryStorage } from '../../lib';
import {
  DEFAULT_STAGE_NAME,
  FRONT_DOOR_METHODS,
  GATEWAY_RESPONSES,
  INTEGRATION_TIMEOUT_SECONDS,
  resourcePolicyStatements,
} from '../../lambdas/contracts/api-gateway';
import { CERTIFICATE_ARN, findCycle, logicalIdOf, synthesizeOnce } from './fixture';

const UNAUTHORIZED_BODY = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}';

describe('RegistryApi', () => {
  test('GIVEN the default stack WHEN a request has no valid credentials THEN the UNAUTHORIZED gateway response carries the Bearer challenge (realm /v2/token on the registry host) and the OCI error body', () => {
    const { template } = synthesizeOnce();
    const distribution = logicalIdOf(template, 'AWS::CloudFront::Distribution', '/Api/Distribution/Resource');
    const host = { 'Fn::GetAtt': [distribution, 'DomainName'] };
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'UNAUTHORIZED',
      StatusCode: '401',
      ResponseParameters: Match.objectLike({
        'gatewayresponse.header.WWW-Authenticate': { 'Fn::Join': ['', ["'Bearer realm=\"https://", host, '/v2/token",service="', host, '"\'']] },
        'gatewayresponse.header.Docker-Distribution-API-Version': "'registry/2.0'",
      }),
      ResponseTemplates: { 'application/json': UNAUTHORIZED_BODY },
    });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'ACCESS_DENIED',
      StatusCode: '403',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"code":"DENIED"') },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the gateway responses, the resource policy, the methods and the stage are those of the front door contract (lambdas/contracts/api-gateway.ts), which the emulator answers as too', () => {
    const { template } = synthesizeOnce();
    for (const spec of Object.values(GATEWAY_RESPONSES)) {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: spec.type,
        StatusCode: String(spec.status),
        ResponseParameters: Match.objectLike(Object.fromEntries(Object.entries(spec.headers).map(([name, value]) => [`gatewayresponse.header.${name}`, `'${value}'`]))),
        ResponseTemplates: { 'application/json': spec.body },
      });
    }
    template.resourceCountIs('AWS::ApiGateway::GatewayResponse', Object.keys(GATEWAY_RESPONSES).length);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { Policy: { Version: '2012-10-17', Statement: resourcePolicyStatements() } });

    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => m.Properties as { HttpMethod: string; AuthorizationType: string; Integration: { Type: string } });
    const authorizationTypes = { authorizer: 'CUSTOM', iam: 'AWS_IAM', none: 'NONE' };
    const integrationTypes = { handler: 'AWS_PROXY', 'version-check': 'MOCK' };
    expect(methods.map((m) => [m.HttpMethod, m.AuthorizationType, m.Integration.Type]).sort()).toEqual(
      FRONT_DOOR_METHODS.map((m) => [m.httpMethod, authorizationTypes[m.authorization], integrationTypes[m.integration]]).sort(),
    );
    template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: DEFAULT_STAGE_NAME });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: INTEGRATION_TIMEOUT_SECONDS, Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'berth-registry' }) } });
  });

  test('GIVEN a PRIVATE endpoint WHEN synthesized THEN the resource policy is the contract statement for that VPC endpoint', () => {
    const { template } = synthesizeOnce({ endpointType: apigateway.EndpointType.PRIVATE, vpcEndpointId: 'vpce-0123456789abcdef0', ingest: false });
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Policy: { Version: '2012-10-17', Statement: resourcePolicyStatements({ vpcEndpointId: 'vpce-0123456789abcdef0' }) },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN bodies pass untouched (binary media type */*) on a regional endpoint', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      BinaryMediaTypes: ['*/*'],
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
  });

  test('GIVEN createOnPush false WHEN synthesized THEN the API function is told to refuse creating repositories on push (CREATE_ON_PUSH=false); by default it may', () => {
    const app = new App();
    const stack = new Stack(app, 'NoCreateOnPush', { env: { account: '123456789012', region: 'us-east-1' } });
    const storage = new RegistryStorage(stack, 'Storage');
    new RegistryApi(stack, 'Api', { storage, createOnPush: false });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CREATE_ON_PUSH: 'false' }) },
    });
    synthesizeOnce().template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CREATE_ON_PUSH: 'true' }) },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN a resource policy lets other accounts reach the API (signed), so a repository policy can open a repository to them', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Policy: {
        Statement: [Match.objectLike({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'execute-api:Invoke', Resource: 'execute-api:/*' })],
      },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN /v2 and /v2/{proxy+} use the REQUEST authorizer on Authorization with a 60 s cache and POST / uses IAM', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.Authorization',
      AuthorizerResultTtlInSeconds: 60,
    });
    const authorizer = logicalIdOf(template, 'AWS::ApiGateway::Authorizer', '/Api/Authorizer/Resource');
    for (const resource of ['v2', '{proxy+}']) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizer },
        ResourceId: { Ref: Match.stringLikeRegexp(resource === 'v2' ? 'Apiv2[0-9A-F]{8}$' : 'Apiv2proxy') },
      });
    }
    template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'POST', AuthorizationType: 'AWS_IAM' });
  });

  test('GIVEN the default stack WHEN synthesized THEN /v2/token reaches the handler without the authorizer (it checks login tokens itself; containerd POSTs them in a form, without Authorization)', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: 'token', ParentId: { Ref: Match.stringLikeRegexp('Apiv2[0-9A-F]{8}$') } });
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'ANY',
      AuthorizationType: 'NONE',
      ResourceId: { Ref: Match.stringLikeRegexp('Apiv2token') },
      Integration: Match.objectLike({ Type: 'AWS_PROXY' }),
    });
  });

  test('GIVEN publicRepositories WHEN synthesized THEN the authorizer has no identity source and no cache, reads the table with GetItem only, and knows the table and account', () => {
    const { template } = synthesizeOnce({ publicRepositories: true, ingest: false });
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', { Type: 'REQUEST', IdentitySource: '', AuthorizerResultTtlInSeconds: 0 });
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const key = logicalIdOf(template, 'AWS::KMS::Key', '/Api/TokenSigningKey/Resource');
    const authorizerPolicy = logicalIdOf(template, 'AWS::IAM::Policy', '/Api/AuthorizerHandler/ServiceRole/DefaultPolicy/Resource');
    expect(template.toJSON().Resources[authorizerPolicy].Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: { 'Fn::GetAtt': [key, 'Arn'] } },
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [table, 'Arn'] } },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          TOKEN_KEY_ID: { 'Fn::GetAtt': [key, 'Arn'] },
          PUBLIC_REPOSITORIES: 'true',
          TABLE_NAME: { Ref: table },
          REGISTRY_ACCOUNT_ID: { Ref: 'AWS::AccountId' },
          POWERTOOLS_SERVICE_NAME: 'berth-authorizer',
        },
      },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN tokens are signed by an ECC_NIST_P256 SIGN_VERIFY KMS key that is retained, named in both functions', () => {
    const { template } = synthesizeOnce();
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const key = logicalIdOf(template, 'AWS::KMS::Key', '/Api/TokenSigningKey/Resource');
    template.hasOutput('TokenSigningKeyArn', { Value: { 'Fn::GetAtt': [key, 'Arn'] } });
  });

  test('GIVEN an existing token key WHEN synthesized THEN no key is created and both functions are granted on that key', () => {
    const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const { template } = synthesizeOnce({ tokenSigningKeyArn: keyArn, ingest: false });
    template.resourceCountIs('AWS::KMS::Key', 0);
    const apiPolicy = logicalIdOf(template, 'AWS::IAM::Policy', '/Api/RegistryHandler/ServiceRole/DefaultPolicy/Resource');
    expect(template.toJSON().Resources[apiPolicy].Properties.PolicyDocument.Statement).toEqual(
      expect.arrayContaining([{ Effect: 'Allow', Action: ['kms:Sign', 'kms:GetPublicKey'], Resource: keyArn }]),
    );
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ TOKEN_KEY_ID: keyArn, POWERTOOLS_SERVICE_NAME: 'berth-authorizer' }) } });
  });

  test('GIVEN the default stack WHEN synthesized THEN GET and HEAD /v2 are answered by API Gateway (MOCK, 200 {} with the registry version header), still behind the authorizer, and /v2/{proxy+} stays on Lambda', () => {
    const { template } = synthesizeOnce();
    const authorizer = logicalIdOf(template, 'AWS::ApiGateway::Authorizer', '/Api/Authorizer/Resource');
    const v2 = { Ref: Match.stringLikeRegexp('Apiv2[0-9A-F]{8}$') };
    for (const method of ['GET', 'HEAD']) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: method,
        ResourceId: v2,
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizer },
        Integration: {
          Type: 'MOCK',
          ContentHandling: 'CONVERT_TO_TEXT',
          RequestTemplates: { 'application/json': '{"statusCode": 200}' },
          IntegrationResponses: [
            {
              StatusCode: '200',
              ContentHandling: 'CONVERT_TO_TEXT',
              ResponseParameters: {
                'method.response.header.Docker-Distribution-Api-Version': "'registry/2.0'",
                'method.response.header.Content-Type': "'application/json'",
              },
              ResponseTemplates: { 'application/json': '{}' },
            },
          ],
        },
        MethodResponses: [
          {
            StatusCode: '200',
            ResponseParameters: { 'method.response.header.Docker-Distribution-Api-Version': true, 'method.response.header.Content-Type': true },
          },
        ],
      });
    }
    const proxyMethods = template.findResources('AWS::ApiGateway::Method', { Properties: { ResourceId: { Ref: Match.stringLikeRegexp('Apiv2proxy') } } });
    expect(Object.values(proxyMethods).map((m) => (m as { Properties: { HttpMethod: string; Integration: { Type: string } } }).Properties)).toEqual([
      expect.objectContaining({ HttpMethod: 'ANY', Integration: expect.objectContaining({ Type: 'AWS_PROXY' }) }),
    ]);
    // Nothing else on /v2 is mocked: other methods reach the handler.
    template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'ANY', ResourceId: v2, Integration: Match.objectLike({ Type: 'AWS_PROXY' }) });
  });

  test('GIVEN the default stack WHEN synthesized THEN both functions run nodejs22.x on arm64 with the documented environment', () => {
    const { template } = synthesizeOnce();
    const key = logicalIdOf(template, 'AWS::KMS::Key', '/Api/TokenSigningKey/Resource');
    const distribution = logicalIdOf(template, 'AWS::CloudFront::Distribution', '/Api/Distribution/Resource');
    const registryEndpoint = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }]] };
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Environment: {
        Variables: {
          TABLE_NAME: Match.anyValue(),
          BUCKET_NAME: Match.anyValue(),
          PRESIGN_TTL_SECONDS: '300',
          UPLOAD_TOKEN_SECRET_ARN: Match.anyValue(),
          TOKEN_KEY_ID: { 'Fn::GetAtt': [key, 'Arn'] },
          REGISTRY_ACCOUNT_ID: { Ref: 'AWS::AccountId' },
          CHALLENGE: 'bearer',
          PROXY_ENDPOINT: registryEndpoint,
          INGEST_URL: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'berth-registry',
          POWERTOOLS_METRICS_NAMESPACE: 'Berth',
        },
      },
    });
    // Without public repositories the authorizer knows only the key: no table, no secret.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: { Variables: { TOKEN_KEY_ID: { 'Fn::GetAtt': [key, 'Arn'] }, POWERTOOLS_SERVICE_NAME: 'berth-authorizer' } },
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the API function may touch only its table, index, bucket, upload-token secret, token key (Sign, GetPublicKey) and simulate the account\'s users and roles; the authorizer only GetPublicKey', () => {
    const { template } = synthesizeOnce();
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', '/Storage/Table/Resource');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', '/Storage/Bucket/Resource');
    const key = logicalIdOf(template, 'AWS::KMS::Key', '/Api/TokenSigningKey/Resource');
    const uploadKey = logicalIdOf(template, 'AWS::SecretsManager::Secret', '/Api/UploadTokenKey/Resource');
    const policyId = logicalIdOf(template, 'AWS::IAM::Policy', '/Api/RegistryHandler/ServiceRole/DefaultPolicy/Resource');
    const statements = template.toJSON().Resources[policyId].Properties.PolicyDocument.Statement as Array<{ Resource: unknown; Action: string | string[] }>;
    const resources = statements.flatMap((s) => [s.Resource].flat());
    expect(resources).toEqual([
      { 'Fn::GetAtt': [table, 'Arn'] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/gsi1']] },
      { 'Fn::GetAtt': [bucket, 'Arn'] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/*']] },
      { Ref: uploadKey },
      { 'Fn::GetAtt': [key, 'Arn'] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':user/*']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/*']] },
    ]);
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(statements).toEqual(
      expect.arrayContaining([
        { Effect: 'Allow', Action: ['kms:Sign', 'kms:GetPublicKey'], Resource: { 'Fn::GetAtt': [key, 'Arn'] } },
        expect.objectContaining({ Effect: 'Allow', Action: 'iam:SimulatePrincipalPolicy' }),
      ]),
    );
    // The key policy is the account default (IAM policies decide); nothing grants kms:* to a function.
    const keyPolicy = JSON.stringify(template.toJSON().Resources[key].Properties.KeyPolicy);
    expect(keyPolicy).not.toContain('ServiceRole');

    const authorizerPolicy = logicalIdOf(template, 'AWS::IAM::Policy', '/Api/AuthorizerHandler/ServiceRole/DefaultPolicy/Resource');
    expect(template.toJSON().Resources[authorizerPolicy].Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: { 'Fn::GetAtt': [key, 'Arn'] } },
    ]);
  });

  test('GIVEN no custom domain WHEN synthesized THEN CloudFront fronts the stage and Authorization reaches the origin on every method', () => {
    const { template } = synthesizeOnce();
    const cachePolicy = logicalIdOf(template, 'AWS::CloudFront::CachePolicy', '/Api/AuthorizationInCacheKey/Resource');
    template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({
        DefaultTTL: 0,
        MinTTL: 0,
        ParametersInCacheKeyAndForwardedToOrigin: Match.objectLike({
          HeadersConfig: { HeaderBehavior: 'whitelist', Headers: ['Authorization'] },
          QueryStringsConfig: { QueryStringBehavior: 'all' },
        }),
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          CachePolicyId: { Ref: cachePolicy },
          ViewerProtocolPolicy: 'https-only',
        }),
        Origins: Match.arrayWith([
          Match.objectLike({
            OriginPath: '/registry',
            CustomOriginConfig: Match.objectLike({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] }),
          }),
        ]),
      }),
    });
  });

  test('GIVEN no custom domain WHEN synthesized THEN the outputs give CloudFront for docker and the API URL for IAM-signed calls', () => {
    const { template } = synthesizeOnce();
    const distribution = logicalIdOf(template, 'AWS::CloudFront::Distribution', '/Api/Distribution/Resource');
    template.hasOutput('RegistryEndpoint', { Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }]] } });
    const controlPlane = JSON.stringify(template.toJSON().Outputs.ControlPlaneEndpoint.Value);
    expect(controlPlane).toContain('execute-api');
    expect(controlPlane).not.toContain(distribution);
  });

  test('GIVEN the Basic challenge WHEN synthesized THEN the gateway response presents Basic with the registry host as realm, the handler is told, and the template has no dependency cycle', () => {
    const { template } = synthesizeOnce({ challenge: 'basic', ingest: false });
    const distribution = logicalIdOf(template, 'AWS::CloudFront::Distribution', '/Api/Distribution/Resource');
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'UNAUTHORIZED',
      ResponseParameters: Match.objectLike({
        'gatewayresponse.header.WWW-Authenticate': { 'Fn::Join': ['', ["'Basic realm=\"", { 'Fn::GetAtt': [distribution, 'DomainName'] }, '"\'']] },
      }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ CHALLENGE: 'basic', POWERTOOLS_SERVICE_NAME: 'berth-registry' }) } });
    expect(findCycle(template)).toBeUndefined();
  });

  test('GIVEN public repositories WHEN synthesized THEN the template has no dependency cycle', () => {
    expect(findCycle(synthesizeOnce({ publicRepositories: true, ingest: false }).template)).toBeUndefined();
  });

  test('GIVEN the default stack WHEN synthesized THEN the template has no dependency cycle', () => {
    expect(findCycle(synthesizeOnce().template)).toBeUndefined();
  });

  test('GIVEN a custom domain WHEN synthesized THEN the API is mapped at the root of it, with TLS 1.2, and there is no distribution', () => {
    const { template } = synthesizeOnce({ domainName: 'registry.example.com', certificateArn: CERTIFICATE_ARN });
    template.hasResourceProperties('AWS::ApiGateway::DomainName', {
      DomainName: 'registry.example.com',
      RegionalCertificateArn: CERTIFICATE_ARN,
      SecurityPolicy: 'TLS_1_2',
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    template.hasResourceProperties('AWS::ApiGateway::BasePathMapping', { BasePath: Match.absent() });
    template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    template.hasOutput('RegistryEndpoint', { Value: 'https://registry.example.com' });
    template.hasOutput('ControlPlaneEndpoint', { Value: 'https://registry.example.com/' });
  });

  test('GIVEN a PRIVATE endpoint without a VPC endpoint WHEN the construct is created THEN it fails and says what to pass', () => {
    const stack = new Stack(new App(), 'Test');
    const storage = new RegistryStorage(stack, 'Storage');
    expect(() => new RegistryApi(stack, 'Api', { storage, endpointType: apigateway.EndpointType.PRIVATE })).toThrow(/PRIVATE needs vpcEndpoint/);
  });

  test('GIVEN a domain without a certificate, a quoted challenge and a long cache WHEN the construct is created THEN every problem is reported at once', () => {
    const stack = new Stack(new App(), 'Test');
    const storage = new RegistryStorage(stack, 'Storage');
    let message = '';
    try {
      new RegistryApi(stack, 'Api', {
        storage,
        domainName: 'registry.example.com',
        challenge: 'digest' as 'basic',
        authorizerCacheTtl: Duration.minutes(30),
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/domainName and certificate go together/);
    expect(message).toMatch(/challenge must be 'bearer' or 'basic'/);
    expect(message).toMatch(/authorizerCacheTtl must be between 0 and 300 seconds/);
  });

  test('GIVEN publicRepositories and a cache TTL WHEN the construct is created THEN it fails: without an identity source API Gateway caches nothing', () => {
    const stack = new Stack(new App(), 'Test');
    const storage = new RegistryStorage(stack, 'Storage');
    expect(() => new RegistryApi(stack, 'Api', { storage, publicRepositories: true, authorizerCacheTtl: Duration.seconds(30) })).toThrow(/authorizerCacheTtl cannot be set with publicRepositories/);
  });

  test('GIVEN a PRIVATE endpoint with a VPC endpoint WHEN synthesized THEN only that endpoint may invoke the API and no distribution is created', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
    const storage = new RegistryStorage(stack, 'Storage');
    const vpcEndpoint = ec2.InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(stack, 'Vpce', { vpcEndpointId: 'vpce-0123456789abcdef0', port: 443 });
    const api = new RegistryApi(stack, 'Api', { storage, endpointType: apigateway.EndpointType.PRIVATE, vpcEndpoint });
    expect(api.distribution).toBeUndefined();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: ['vpce-0123456789abcdef0'] },
      Policy: Match.objectLike({
        Statement: [Match.objectLike({ Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-0123456789abcdef0' } } })],
      }),
    });
  });
});
