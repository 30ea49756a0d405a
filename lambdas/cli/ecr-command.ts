/** `berth ecr ...`: ECR's control plane from the command line, signing for the deployed stack's API Gateway too. */
import { HELP } from './help';
import { fail, parseOptions } from './options';

/** `berth ecr get-login-password`: what `aws ecr get-login-password` does, plus signing for the deployed stack. */
export async function ecr(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== undefined && sub !== 'get-login-password' && !sub.startsWith('-')) {
    const { runEcrCommand } = await import('./ecr/ecr-cli');
    process.exit(await runEcrCommand(argv, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }));
  }
  if (sub !== 'get-login-password') fail(`unknown ecr command ${JSON.stringify(sub ?? '')}; available: get-login-password\n\n${HELP}`);
  const values = parseOptions(rest, {
    'endpoint-url': { type: 'string' },
    region: { type: 'string' },
    'execute-api': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (!values) return;
  const endpointUrl = values['endpoint-url'];
  if (!endpointUrl) fail('--endpoint-url is required: the URL of the Berth registry (the deployed API, or http://127.0.0.1:5000 locally)');
  const region = values.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  const { getLoginPassword } = await import('./ecr/ecr-login');
  let password: string;
  try {
    password = await getLoginPassword({ endpointUrl, region, executeApi: values['execute-api'] });
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`berth: GetAuthorizationToken failed: ${e.name}: ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${password}\n`);
}
