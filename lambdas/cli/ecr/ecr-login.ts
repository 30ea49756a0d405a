/**
 * `berth ecr get-login-password`: GetAuthorizationToken through `@aws-sdk/client-ecr` with the default
 * credential chain (environment, shared files, SSO, instance roles), printing the password only, as
 * `aws ecr get-login-password` does, for `docker login -u AWS --password-stdin`.
 *
 * Against the deployed stack the ECR JSON API sits behind API Gateway's IAM authorization, which checks
 * signatures for the service `execute-api`, not `ecr`: the AWS CLI cannot be told to sign for another
 * service, so this command exists. `--execute-api` signs for it. Passing a SignatureV4 built for
 * `execute-api` as the client's `signer` is not enough: the SDK's SigV4 auth scheme passes the
 * operation's signing name (`ecr`) to `sign()`, which takes precedence over the signer's own service,
 * so the signer below forces the service on every call.
 */
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { AwsCredentialIdentity, HttpRequest as SmithyHttpRequest, RequestSigningArguments } from '@smithy/types';

export interface LoginOptions {
  endpointUrl: string;
  region: string;
  /** Sign for `execute-api` (the deployed stack's IAM-authorized `POST /`) instead of `ecr`. */
  executeApi?: boolean;
  /** @default the default credential chain */
  credentials?: AwsCredentialIdentity;
}

export function ecrClient(options: LoginOptions): ECRClient {
  if (!options.executeApi) return new ECRClient({ region: options.region, endpoint: options.endpointUrl, credentials: options.credentials });
  // The signer reads the client's own credential chain, so it is built lazily, after the client.
  const inner = () =>
    new SignatureV4({ service: 'execute-api', region: options.region, sha256: Sha256, credentials: () => client.config.credentials() });
  const client: ECRClient = new ECRClient({
    region: options.region,
    endpoint: options.endpointUrl,
    credentials: options.credentials,
    signer: async () => ({
      sign: (request: SmithyHttpRequest, args?: RequestSigningArguments) => inner().sign(request, { ...args, signingService: 'execute-api' }),
    }),
  });
  return client;
}

/** The first authorization data's token: base64 of `AWS:<password>`, what a Basic Authorization header carries. */
export async function getAuthorizationToken(options: LoginOptions): Promise<string> {
  const client = ecrClient(options);
  try {
    const out = await client.send(new GetAuthorizationTokenCommand({}));
    const token = out.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new Error('the registry answered without an authorization token');
    return token;
  } finally {
    client.destroy();
  }
}

/** The password of the first authorization data (what follows `AWS:` in the decoded token). */
export async function getLoginPassword(options: LoginOptions): Promise<string> {
  const decoded = Buffer.from(await getAuthorizationToken(options), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new Error('the authorization token is not user:password');
  return decoded.slice(colon + 1);
}
