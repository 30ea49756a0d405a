import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { RegistryStack } from './registry-stack';
import { SIMULATED_PRINCIPAL_ARNS } from './registry-api';

/**
 * The cdk-nag AwsSolutions findings this design accepts, each acknowledged on the narrowest
 * construct with the reason it is accepted. Everything else the pack checks is fixed in the
 * constructs (access logs, PITR, TLS-only buckets, HTTPS-only viewers, TLS 1.2 to the origin,
 * Container Insights, VPC flow logs, no `*` in data grants...).
 */
export function acknowledgeNagFindings(stack: RegistryStack): void {
  const api = stack.registryApi;
  const ack = (scope: IConstruct | undefined, id: string, reason: string) => {
    if (scope) Validations.of(scope).acknowledge({ id, reason });
  };
  const bucketObjects = stack.storage.objectGrantNagFinding();
  const objectsReason =
    'Object-level grant on the registry\'s own bucket only ("<bucket ARN>/*"): keys are digests and upload ids chosen at run time, ' +
    'so no narrower ARN exists; the actions are an explicit list without wildcards.';

  // Lambda functions.
  for (const fn of [api.registryHandler, api.authorizerHandler]) {
    ack(
      fn.role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution policy allows only creating log streams and writing log events; an inline copy would need a log-group wildcard instead.',
    );
    ack(
      fn,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the code and its tests run on Node 20 and 22 (package.json engines) and nodejs22.x is supported by Lambda until 2027; moving to a newer runtime is a change to test, not a default to follow.',
    );
  }
  ack(api.registryHandler.role, bucketObjects, objectsReason);
  for (const pattern of SIMULATED_PRINCIPAL_ARNS) {
    ack(
      api.registryHandler.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:${pattern}]`,
      'iam:SimulatePrincipalPolicy evaluates the identity policies of whichever user or role of this account calls the registry (ECR honours them, so Berth asks IAM); callers are not known at deploy time, so the grant names every user and role of the account and nothing else. The action only reads policies, it changes nothing.',
    );
  }

  // REST API.
  ack(
    api.api,
    'AwsSolutions-COG4',
    'Registry clients (docker, podman, skopeo, containerd) authenticate with ECR-style login tokens (Basic AWS:<token>) or OCI registry tokens, never Cognito tokens: /v2 is protected by a REQUEST Lambda authorizer and POST / (the ECR control plane) by IAM SigV4, as ECR is.',
  );
  ack(
    api.api,
    'AwsSolutions-APIG4',
    'Only the token endpoint /v2/token has no API Gateway authorization: it authenticates its callers itself (a login token in Basic credentials or, for containerd, in a POST form that carries no Authorization header an authorizer could check) and issues anonymous callers only what the policies grant Principal "*".',
  );
  ack(
    api.api,
    'AwsSolutions-APIG2',
    'The OCI Distribution spec prescribes the error code and JSON body of every malformed request, which the handler produces; an API Gateway request validator would answer 400 in its own format that clients cannot read, and binary bodies cannot be modelled.',
  );
  ack(
    api.api.deploymentStage,
    'AwsSolutions-APIG3',
    'A web ACL is organisation policy, not a registry default: WAF must not inspect or limit multi-megabyte layer bodies, and rate rules must allow a CI fleet pulling at once. docs/deploy.md says how to attach one.',
  );
  ack(
    api.api.node.tryFindChild('CloudWatchRole'),
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
    'API Gateway\'s account-level logging role (needed for the stage\'s access and error logs) with the AWS managed policy API Gateway documents for it; it only writes logs.',
  );

  // Secrets.
  ack(
    api.uploadTokenSecret,
    'AwsSolutions-SMG4',
    'Rotating the upload-token HMAC key invalidates every upload in flight (tokens live for minutes to an hour) and the handler accepts one key at a time; rotation is manual, between pushes (docs/deploy.md).',
  );

  // CloudFront (only without a custom domain).
  if (api.distribution) {
    ack(
      api.distribution,
      'AwsSolutions-CFR1',
      'A container registry serves its users and CI wherever they run; geo restriction is organisation policy, not a default.',
    );
    ack(
      api.distribution,
      'AwsSolutions-CFR2',
      'A CloudFront web ACL must be created in us-east-1 (another stack) and must not inspect upload bodies; organisations that require one attach it (docs/deploy.md).',
    );
    ack(
      api.distribution,
      'AwsSolutions-CFR4',
      'Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose minimum protocol CloudFront fixes and does not let us raise; with domainName + certificateArn the registry is served by API Gateway with TLS 1.2 and no distribution exists.',
    );
  }

  // Ingest service.
  const ingest = stack.ingest;
  if (ingest) {
    ack(ingest.taskDefinition.taskRole, bucketObjects, objectsReason);
    ack(
      ingest.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds only names and ARNs (TABLE_NAME, BUCKET_NAME, UPLOAD_TOKEN_SECRET_ARN, AWS_REGION, POWERTOOLS_SERVICE_NAME), never a secret value: the server reads the key from Secrets Manager with the task role.',
    );
    ack(
      ingest.taskDefinition.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken supports no resource-level permission (AWS requires Resource "*"); the execution role uses it only to pull the ingest image from the CDK assets repository, whose pull actions are scoped to that repository.',
    );
    if (ingest.endpoint) {
      ack(
        ingest.loadBalancer.connections.securityGroups[0],
        'AwsSolutions-EC23',
        'The ingest host is a public registry endpoint like the API: it listens on HTTPS 443 only and every request must carry an unexpired upload token bound to one upload of one repository.',
      );
    }
  }
}
