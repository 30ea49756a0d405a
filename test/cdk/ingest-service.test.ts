import { Match } from 'aws-cdk-lib/assertions';
import { UPLOAD_PATH_PATTERN } from '../../lib';
import { CERTIFICATE_ARN, logicalIdOf, synthesizeOnce } from './fixture';

describe('IngestService', () => {
  test('GIVEN the default stack WHEN synthesized THEN a Fargate service runs behind a load balancer with a long idle timeout and a /healthz check', () => {
    const { template } = synthesizeOnce();
    template.resourceCountIs('AWS::ECS::Service', 1);
    template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: 1 });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'application',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '4000' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/healthz', Port: 8080, TargetType: 'ip' });
  });

  test('GIVEN the default stack WHEN synthesized THEN the container gets the table, bucket and upload-key names and its image is built from the Dockerfile', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Image: Match.objectLike({ 'Fn::Sub': Match.stringLikeRegexp('container-assets') }),
          Environment: Match.arrayWith([
            Match.objectLike({ Name: 'TABLE_NAME' }),
            Match.objectLike({ Name: 'BUCKET_NAME' }),
            Match.objectLike({ Name: 'UPLOAD_TOKEN_SECRET_ARN' }),
          ]),
        }),
      ],
    });
  });

  test('GIVEN the default stack WHEN synthesized THEN the task role may touch only the table, its index, the bucket and the upload key', () => {
    const { template } = synthesizeOnce();
    const policy = logicalIdOf(template, 'AWS::IAM::Policy', '/Ingest/Task/TaskRole/DefaultPolicy/Resource');
    const statements = template.toJSON().Resources[policy].Properties.PolicyDocument.Statement as Array<{ Resource: unknown; Action: string | string[] }>;
    const resources = JSON.stringify(statements.map((s) => s.Resource));
    expect(resources).not.toContain('"*"');
    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => a.includes('*'))).toEqual([]);
    expect(statements.map((s) => [s.Action].flat()[0].split(':')[0])).toEqual(['dynamodb', 's3', 's3', 'secretsmanager']);
  });

  test('GIVEN no custom domain WHEN synthesized THEN the load balancer is internal and CloudFront sends the upload paths to it over a VPC origin', () => {
    const { template } = synthesizeOnce();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
    template.resourceCountIs('AWS::CloudFront::VpcOrigin', 1);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        CacheBehaviors: [
          Match.objectLike({
            PathPattern: UPLOAD_PATH_PATTERN,
            ViewerProtocolPolicy: 'https-only',
            AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          }),
        ],
      }),
    });
    // The upload Locations the API hands out name the same (HTTPS) host.
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ INGEST_URL: { 'Fn::Join': ['', ['https://', Match.anyValue()]] } }) },
    });
  });

  test('GIVEN the upload path pattern WHEN matched like CloudFront does THEN it takes upload sessions but not the POST that starts one', () => {
    // CloudFront: `*` is any run of characters (slashes included), `?` exactly one.
    const pattern = new RegExp('^' + UPLOAD_PATH_PATTERN.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
    expect(pattern.test('/v2/team/app/blobs/uploads/0b5f3c2e-1234')).toBe(true);
    expect(pattern.test('/v2/library/alpine/blobs/uploads/abc')).toBe(true);
    expect(pattern.test('/v2/team/app/blobs/uploads/')).toBe(false);
    expect(pattern.test('/v2/team/app/manifests/v1')).toBe(false);
    expect(pattern.test('/v2/team/app/blobs/sha256:abc')).toBe(false);
  });

  test('GIVEN ingest: false WHEN synthesized THEN there is no ECS service, no load balancer and no INGEST_URL', () => {
    const { template } = synthesizeOnce({ ingest: false });
    template.resourceCountIs('AWS::ECS::Service', 0);
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    template.resourceCountIs('AWS::CloudFront::VpcOrigin', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'berth-registry', INGEST_URL: Match.absent() }) },
    });
    expect(template.toJSON().Outputs.IngestEndpoint).toBeUndefined();
  });

  test('GIVEN a custom domain WHEN synthesized THEN the ingest host is an internet-facing load balancer with an HTTPS listener only', () => {
    const { template } = synthesizeOnce({ domainName: 'registry.example.com', certificateArn: CERTIFICATE_ARN });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
    });
    template.hasOutput('IngestEndpoint', { Value: 'https://ingest.registry.example.com' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ INGEST_URL: 'https://ingest.registry.example.com' }) },
    });
  });
});
