/**
 * API Gateway's IAM authorization of a method (the control plane's `POST /`): the SigV4 signature
 * for `execute-api` checked against the callers' secrets (the IAM stand-in: local identities), then
 * IAM's decision on `execute-api:Invoke` with the API's resource policy (the contract's statements,
 * lambdas/contracts/api-gateway.ts), as the stack deploys it.
 */
import type { IncomingMessage } from 'node:http';
import { INVOKE_ACTION, type ResourcePolicyStatement } from '../contracts/api-gateway';
import { verifySigV4, type SigV4Secret } from '../http/sigv4';
import { lowerHeaders, type RequestParts, type SimulatedApi } from './api-gateway-requests';
import { wildcard } from './api-gateway-authorizer';

/** A caller IAM knows: what API Gateway puts in requestContext.identity after IAM authorization. */
export interface IamCaller {
  arn: string;
  account: string;
  /** IAM's unique id of the principal (`AIDA...` for a user), requestContext.identity.caller/user. @default the access key id */
  principalId?: string;
}

export type IamSecretLookup = (accessKeyId: string, sessionToken?: string) => Promise<SigV4Secret<IamCaller> | null>;

/**
 * API Gateway's IAM authorization accepts signatures within 5 minutes of its clock, not the 15 of most
 * AWS services: `{"message":"Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z
 * (20170215T150034Z - 5 min.)"}`, 403, from an API Gateway IAM-authorized method
 * (https://github.com/aws-amplify/aws-sdk-android/issues/253; the same window on execute-api's
 * @connections API: https://github.com/cognitect-labs/aws-api/issues/255).
 */
export const API_GATEWAY_SIGV4_SKEW_MS = 5 * 60 * 1000;

/** IAM's verdict: the identity the integration sees, or the refusal API Gateway answers (403, `x-amzn-ErrorType: code`). */
export type IamVerdict = { allowed: true; identity: Record<string, string> } | { allowed: false; code: string; body: Record<string, string> };

/**
 * API Gateway verifies the SigV4 signature (service execute-api, the API's region, 5 minutes of skew)
 * and refuses with 403 and `{"message": ...}` before any integration runs. The bodies and
 * x-amzn-ErrorType as API Gateway sends them:
 * - no signature: `{"message":"Missing Authentication Token"}`, MissingAuthenticationTokenException
 *   (https://repost.aws/knowledge-center/api-gateway-authentication-token-errors: "The API request isn't
 *   signed when the API method has IAM authentication turned on");
 * - wrong secret or tampered request: `{"message":"The request signature we calculated does not match
 *   the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service
 *   documentation for details.\n\nThe Canonical String for this request should have been ..."}`,
 *   InvalidSignatureException, 403 (https://github.com/rpgreen/apigateway-generic-java-sdk/issues/11,
 *   https://github.com/mhart/aws4/issues/33; the canonical string and string-to-sign that API Gateway
 *   appends are left out here);
 * - stale date: `{"message":"Signature expired: ... (... - 5 min.)"}` (see API_GATEWAY_SIGV4_SKEW_MS);
 * - unknown key: `{"message":"The security token included in the request is invalid."}`,
 *   UnrecognizedClientException;
 * - a caller IAM does not allow to invoke the method: `{"Message":"User: <arn> is not authorized to
 *   perform: execute-api:Invoke on resource: <method ARN>"}` (capital M, AccessDeniedException;
 *   https://github.com/guardian/manage-frontend/pull/483, https://github.com/ASFHyP3/hyp3/issues/2283).
 */
export async function authorizeIam(
  req: IncomingMessage,
  url: URL,
  parts: RequestParts,
  api: SimulatedApi,
  iam: { lookupSecret: IamSecretLookup; resourcePolicy: readonly ResourcePolicyStatement[] },
): Promise<IamVerdict> {
  const verdict = await verifySigV4(
    { method: parts.method, path: url.pathname, query: url.search, headers: lowerHeaders(req), body: parts.body },
    { lookupSecret: iam.lookupSecret, service: 'execute-api', regions: [api.region], maxSkewMs: API_GATEWAY_SIGV4_SKEW_MS },
  );
  if (!verdict.ok) return { allowed: false, code: verdict.code, body: { message: verdict.message } };
  const caller = verdict.principal;
  const invoke = mayInvoke(caller, parts.methodArn, api, iam.resourcePolicy);
  if (invoke !== 'allow') {
    const suffix = invoke === 'explicit-deny' ? ' with an explicit deny' : '';
    return {
      allowed: false,
      code: 'AccessDeniedException',
      body: { Message: `User: ${caller.arn} is not authorized to perform: ${INVOKE_ACTION} on resource: ${parts.methodArn}${suffix}` },
    };
  }
  const principalId = caller.principalId ?? verdict.accessKeyId;
  return {
    allowed: true,
    identity: { accessKey: verdict.accessKeyId, accountId: caller.account, caller: principalId, user: principalId, userArn: caller.arn },
  };
}

/**
 * IAM's decision on `execute-api:Invoke` for the method: an explicit Deny in the resource policy
 * refuses; a caller of the API's account needs an Allow in its identity policy or the resource
 * policy, one of another account needs both.
 *
 * STAND-IN: the local identities' policies are written in ECR's vocabulary, so every known identity
 * is taken to hold execute-api:Invoke in its own account (grant it in IAM on AWS: docs/deploy.md);
 * the resource policy is evaluated as deployed. A statement with a condition never applies here: the
 * only conditions the stack writes name a VPC endpoint, which no request through the emulator comes from.
 */
export function mayInvoke(
  caller: IamCaller,
  methodArn: string,
  api: SimulatedApi,
  statements: readonly ResourcePolicyStatement[],
): 'allow' | 'explicit-deny' | 'implicit-deny' {
  const applying = statements.filter((s) => s.Condition === undefined && principalMatches(s.Principal.AWS, caller) && actionMatches(s.Action) && wildcard(resourceArn(s.Resource, api)).test(methodArn));
  if (applying.some((s) => s.Effect === 'Deny')) return 'explicit-deny';
  // The identity policy's Allow (held, see above) suffices in the API's account; elsewhere the resource policy must allow too.
  if (caller.account === api.account) return 'allow';
  return applying.some((s) => s.Effect === 'Allow') ? 'allow' : 'implicit-deny';
}

/** `*`, an account (`123456789012` or its `:root` ARN) for every principal of it, or one principal's ARN. */
function principalMatches(principal: string, caller: IamCaller): boolean {
  if (principal === '*') return true;
  if (principal === caller.account || principal === `arn:aws:iam::${caller.account}:root`) return true;
  return principal === caller.arn;
}

function actionMatches(action: string): boolean {
  return wildcard(action).test(INVOKE_ACTION);
}

/** A resource policy's `execute-api:/<stage>/<METHOD>/<path>` is relative to the API it is attached to. */
function resourceArn(resource: string, api: SimulatedApi): string {
  const relative = /^execute-api:(\/.*)$/.exec(resource);
  return relative ? `arn:aws:execute-api:${api.region}:${api.account}:${api.apiId}${relative[1]}` : resource;
}
