/**
 * The REST API's front door built from its contract (lambdas/contracts/api-gateway.ts), which the
 * emulated AWS mode answers as too: the methods and their authorization, the gateway responses and
 * the resource policy.
 */
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  FRONT_DOOR_METHODS,
  GATEWAY_RESPONSES,
  VERSION_CHECK_BODY,
  VERSION_CHECK_HEADERS,
  challengeFor,
  resourcePolicyStatements,
  type ChallengeScheme,
  type FrontDoorMethod,
} from '../lambdas/contracts/api-gateway';

/**
 * Adds every method of {@link FRONT_DOOR_METHODS} to `api`, creating its resources.
 *
 * @param api the REST API
 * @param targets the REQUEST authorizer of `authorizer` methods and the registry function's integration
 */
export function addFrontDoorMethods(api: apigateway.RestApi, targets: { authorizer: apigateway.IAuthorizer; handler: apigateway.Integration }): void {
  // One MOCK integration for the version check's methods, as for the handler's.
  const versionCheck = versionCheckIntegration();
  for (const method of FRONT_DOOR_METHODS) {
    const resource = method.resource === '/' ? api.root : api.root.resourceForPath(method.resource);
    const integration = method.integration === 'version-check' ? versionCheck : targets.handler;
    resource.addMethod(method.httpMethod, integration, {
      ...authorizationOf(method, targets.authorizer),
      ...(method.integration === 'version-check' ? { methodResponses: [versionCheckMethodResponse()] } : {}),
    });
  }
}

function authorizationOf(method: FrontDoorMethod, authorizer: apigateway.IAuthorizer): apigateway.MethodOptions {
  switch (method.authorization) {
    case 'authorizer':
      return { authorizer };
    case 'iam':
      return { authorizationType: apigateway.AuthorizationType.IAM };
    case 'none':
      return { authorizationType: apigateway.AuthorizationType.NONE };
  }
}

/**
 * Adds the gateway responses of {@link GATEWAY_RESPONSES}, the challenge naming the registry.
 *
 * @param api the REST API
 * @param challenge the scheme of the `WWW-Authenticate` challenge
 * @param registry the registry's base URL (`https://<host>`) and host, as docker reaches it
 */
export function addGatewayResponses(api: apigateway.RestApi, challenge: ChallengeScheme, registry: { url: string; host: string }): void {
  const challengeValue = challengeFor(challenge, registry);
  for (const response of Object.values(GATEWAY_RESPONSES)) {
    const headers: Record<string, string> = { ...response.headers, ...(response.withChallenge ? { 'WWW-Authenticate': challengeValue } : {}) };
    api.addGatewayResponse(response.id, {
      type: apigateway.ResponseType.of(response.type),
      statusCode: String(response.status),
      // Gateway response header values are mapping expressions: a literal is quoted.
      responseHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, `'${value}'`])),
      templates: { 'application/json': response.body },
    });
  }
}

/**
 * The API's resource policy ({@link resourcePolicyStatements}).
 *
 * @param vpcEndpoint the VPC endpoint of a PRIVATE API; none for a REGIONAL one
 */
export function frontDoorPolicy(vpcEndpoint?: { vpcEndpointId: string }): iam.PolicyDocument {
  return iam.PolicyDocument.fromJson({ Version: '2012-10-17', Statement: resourcePolicyStatements({ vpcEndpointId: vpcEndpoint?.vpcEndpointId }) });
}

/**
 * The version check's MOCK integration: 200 `{}` with {@link VERSION_CHECK_HEADERS}. Content handling
 * CONVERT_TO_TEXT on the request and the response: the API's binary media types match everything,
 * so every payload counts as binary, and a MOCK integration without it answers 500 (its mapping
 * templates are text).
 */
function versionCheckIntegration(): apigateway.MockIntegration {
  return new apigateway.MockIntegration({
    passthroughBehavior: apigateway.PassthroughBehavior.WHEN_NO_MATCH,
    contentHandling: apigateway.ContentHandling.CONVERT_TO_TEXT,
    requestTemplates: { 'application/json': '{"statusCode": 200}' },
    integrationResponses: [
      {
        statusCode: '200',
        contentHandling: apigateway.ContentHandling.CONVERT_TO_TEXT,
        responseParameters: Object.fromEntries(Object.entries(VERSION_CHECK_HEADERS).map(([h, v]) => [`method.response.header.${h}`, `'${v}'`])),
        responseTemplates: { 'application/json': VERSION_CHECK_BODY },
      },
    ],
  });
}

function versionCheckMethodResponse(): apigateway.MethodResponse {
  return {
    statusCode: '200',
    responseParameters: Object.fromEntries(Object.keys(VERSION_CHECK_HEADERS).map((h) => [`method.response.header.${h}`, true])),
  };
}
