/**
 * One signed call to an ECR JSON endpoint (AWS JSON 1.1, `X-Amz-Target`), for the actions the SDK has
 * no command for: Berth's own (BerthRunLifecyclePolicy, the replication actions). Signed as the SDK
 * signs: SigV4 for `ecr` (a local server, which verifies signatures itself) or `execute-api` (a
 * deployment, whose API Gateway does).
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

export const ECR_JSON_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';

export interface EcrJsonEndpoint {
  /** The control plane's URL (`http://host:port` locally, the API's URL on AWS). */
  url: string;
  region: string;
  /** The caller's credentials, or a provider of them (a Lambda function's role, refreshed as it expires). */
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  /** @default 'ecr' */
  service?: 'ecr' | 'execute-api';
}

/** The endpoint's refusal: the ECR exception's name (`__type`), its message and the HTTP status. */
export class EcrJsonCallError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(`${type}: ${message}`);
    this.name = 'EcrJsonCallError';
  }
}

/** Signs and sends `action` with `input`; the answer's JSON, or EcrJsonCallError (a network failure throws as fetch does). */
export async function callEcrJson(endpoint: EcrJsonEndpoint, action: string, input: Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<Record<string, unknown>> {
  const url = new URL(endpoint.url);
  const path = url.pathname === '' ? '/' : url.pathname;
  const body = JSON.stringify(input);
  const signed = await new SignatureV4({ service: endpoint.service ?? 'ecr', region: endpoint.region, credentials: endpoint.credentials, sha256: Sha256 }).sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    path,
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${ECR_JSON_TARGET_PREFIX}${action}` },
    body,
  });
  const response = await fetch(new URL(path, url), { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: options.signal });
  const text = await response.text();
  let answer: Record<string, unknown> | undefined;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    answer = undefined;
  }
  if (response.ok && answer !== undefined) return answer;
  const type = response.headers.get('x-amzn-errortype') ?? (typeof answer?.__type === 'string' ? answer.__type : `HTTP${response.status}`);
  throw new EcrJsonCallError(type.split(':')[0], String(answer?.message ?? answer?.Message ?? text.slice(0, 500)), response.status);
}
