/**
 * Invalid input on `berth serve --config`, with the real `@aws-sdk/client-ecr`: which exception and
 * which message a member that breaks its pattern, length or range gets (docs/ecr-compatibility.md,
 * "Invalid input").
 *
 * ECR's 21 classic actions (their API reference lists no ValidationException) answer
 * InvalidParameterException "Invalid parameter at '<member>' failed to satisfy constraint:
 * '<constraint>'", in the words ECR's users quote from real answers ('must satisfy regular expression
 * '...'', 'must have length greater than or equal to 2', 'Member must have length less than or equal
 * to 100', 'Member must have value less than or equal to 1000'). The newer actions keep the AWS JSON
 * front's ValidationException "1 validation error detected: ...", as their API reference lists it.
 * A missing required member stays ValidationException ("Member must not be null") and a wrong JSON
 * type SerializationException, in both.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  BatchCheckLayerAvailabilityCommand,
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CompleteLayerUploadCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteRepositoryCommand,
  DeleteRepositoryPolicyCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  DescribeRepositoryCreationTemplatesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetDownloadUrlForLayerCommand,
  GetRepositoryPolicyCommand,
  InitiateLayerUploadCommand,
  InvalidParameterException,
  ListImageReferrersCommand,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutImageCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  SetRepositoryPolicyCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UploadLayerPartCommand,
  ValidationException,
} from '@aws-sdk/client-ecr';
import { scratchDir, startRegistryProcess, type RegistryProcess } from '../support/registry-harness';
import { CLASSIC_VALIDATION_ACTIONS, ECR_API_ACTIONS, validationStyleOf } from '../../lambdas/http/ecr-api';
import { writeAdminConfig } from '../support/identity-config';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const ADMIN = { accessKeyId: 'AKIAADMINEXAMPLE0009', secretAccessKey: 'admin-secret-access-key-example-0009' };
const REPO = 'invalid/input';
/** ECR's repository name pattern, as its InvalidParameterException quotes it. */
const NAME_PATTERN = '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*';
const UPLOAD_ID_PATTERN = '[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}';
const DIGEST = `sha256:${'0'.repeat(64)}`;

let work: { path: string; remove: () => void };
let proc: RegistryProcess;

const ecr = () => new ECRClient({ region: REGION, endpoint: proc.url, credentials: ADMIN, maxAttempts: 1 });
const arnOf = (name: string) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${name}`;
/** Any of the client's commands (their input types differ). */
type AnyCommand = { input: object };

/** The error a command is answered with (the test fails if it is accepted). */
async function refusal(command: AnyCommand): Promise<Error & { name: string }> {
  return ecr()
    .send(command as never)
    .then(
      () => {
        throw new Error(`${command.constructor.name} was accepted`);
      },
      (err: Error) => err,
    );
}

const invalidParameter = (member: string, constraint: string) => `Invalid parameter at '${member}' failed to satisfy constraint: '${constraint}'`;

beforeAll(async () => {
  work = scratchDir('ecr-invalid-parameters');
  const config = writeAdminConfig(work.path, { account: ACCOUNT, region: REGION, admin: ADMIN });
  proc = await startRegistryProcess(join(work.path, 'data'), 0, ['--config', config]);
  await ecr().send(new CreateRepositoryCommand({ repositoryName: REPO }));
}, 60_000);

afterAll(async () => {
  await proc?.stop();
  work?.remove();
});

const hundredAndOne = <T>(make: (i: number) => T): T[] => Array.from({ length: 101 }, (_, i) => make(i));

/** One invalid member per classic action: [action, what is wrong, the command, member, ECR's constraint text]. */
const CLASSIC_CASES: Array<[string, string, () => AnyCommand, string, string]> = [
  [
    'BatchCheckLayerAvailability',
    '101 layerDigests',
    () => new BatchCheckLayerAvailabilityCommand({ repositoryName: REPO, layerDigests: hundredAndOne(() => DIGEST) }),
    'layerDigests',
    'Member must have length less than or equal to 100',
  ],
  [
    'BatchDeleteImage',
    '101 imageIds',
    () => new BatchDeleteImageCommand({ repositoryName: REPO, imageIds: hundredAndOne((i) => ({ imageTag: `t${i}` })) }),
    'imageIds',
    'Member must have length less than or equal to 100',
  ],
  ['BatchGetImage', 'no imageIds (an empty list)', () => new BatchGetImageCommand({ repositoryName: REPO, imageIds: [] }), 'imageIds', 'Member must have length greater than or equal to 1'],
  [
    'CompleteLayerUpload',
    'an uploadId that is not one',
    () => new CompleteLayerUploadCommand({ repositoryName: REPO, uploadId: 'not-an-upload', layerDigests: [DIGEST] }),
    'uploadId',
    `must satisfy regular expression '${UPLOAD_ID_PATTERN}'`,
  ],
  ['CreateRepository', 'an upper-case name', () => new CreateRepositoryCommand({ repositoryName: 'Team/Upper' }), 'repositoryName', `must satisfy regular expression '${NAME_PATTERN}'`],
  ['DeleteRepository', 'a registryId of 5 digits', () => new DeleteRepositoryCommand({ registryId: '12345', repositoryName: REPO }), 'registryId', "must satisfy regular expression '[0-9]{12}'"],
  ['DeleteRepositoryPolicy', 'a 1-character name', () => new DeleteRepositoryPolicyCommand({ repositoryName: 'a' }), 'repositoryName', 'must have length greater than or equal to 2'],
  ['DescribeImages', 'maxResults 1001', () => new DescribeImagesCommand({ repositoryName: REPO, maxResults: 1001 }), 'maxResults', 'Member must have value less than or equal to 1000'],
  [
    'DescribeRepositories',
    '101 repositoryNames',
    () => new DescribeRepositoriesCommand({ repositoryNames: hundredAndOne((i) => `r${i}/x`) }),
    'repositoryNames',
    'Member must have length less than or equal to 100',
  ],
  [
    'GetAuthorizationToken',
    'a registryId of 3 digits',
    () => new GetAuthorizationTokenCommand({ registryIds: ['123'] }),
    'registryIds',
    'Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]',
  ],
  [
    'GetDownloadUrlForLayer',
    'a name starting with a separator',
    () => new GetDownloadUrlForLayerCommand({ repositoryName: '-bad', layerDigest: DIGEST }),
    'repositoryName',
    `must satisfy regular expression '${NAME_PATTERN}'`,
  ],
  ['GetRepositoryPolicy', 'a 257-character name', () => new GetRepositoryPolicyCommand({ repositoryName: 'a'.repeat(257) }), 'repositoryName', 'must have length less than or equal to 256'],
  ['InitiateLayerUpload', 'a registryId with letters', () => new InitiateLayerUploadCommand({ registryId: 'abcdefghijkl', repositoryName: REPO }), 'registryId', "must satisfy regular expression '[0-9]{12}'"],
  ['ListImages', 'maxResults 0', () => new ListImagesCommand({ repositoryName: REPO, maxResults: 0 }), 'maxResults', 'Member must have value greater than or equal to 1'],
  ['ListTagsForResource', 'an ARN naming a 1-character repository', () => new ListTagsForResourceCommand({ resourceArn: arnOf('x') }), 'resourceArn', 'must have length greater than or equal to 2'],
  ['PutImage', 'an empty manifest', () => new PutImageCommand({ repositoryName: REPO, imageManifest: '', imageTag: 'v1' }), 'imageManifest', 'must have length greater than or equal to 1'],
  [
    'PutImageTagMutability',
    'a mode that does not exist',
    () => new PutImageTagMutabilityCommand({ repositoryName: REPO, imageTagMutability: 'SOMETIMES' as never }),
    'imageTagMutability',
    'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]',
  ],
  ['SetRepositoryPolicy', 'a name with a space', () => new SetRepositoryPolicyCommand({ repositoryName: 'my repo', policyText: '{}' }), 'repositoryName', `must satisfy regular expression '${NAME_PATTERN}'`],
  ['TagResource', 'an ARN naming an upper-case repository', () => new TagResourceCommand({ resourceArn: arnOf('Team/App'), tags: [{ Key: 'k', Value: 'v' }] }), 'resourceArn', `must satisfy regular expression '${NAME_PATTERN}'`],
  ['UntagResource', '201 tagKeys', () => new UntagResourceCommand({ resourceArn: arnOf(REPO), tagKeys: Array.from({ length: 201 }, (_, i) => `k${i}`) }), 'tagKeys', 'Member must have length less than or equal to 200'],
  [
    'UploadLayerPart',
    'a negative partFirstByte',
    () => new UploadLayerPartCommand({ repositoryName: REPO, uploadId: randomUUID(), partFirstByte: -1, partLastByte: 0, layerPartBlob: Buffer.from('x') }),
    'partFirstByte',
    'Member must have value greater than or equal to 0',
  ],
];

describe('the 21 classic actions answer an invalid member with InvalidParameterException, in ECR words', () => {
  test("GIVEN the SDK's service model WHEN an action lists no ValidationException THEN it is classic here, and every other action Berth answers is modern", () => {
    // The model's errors per operation, as @aws-sdk/client-ecr documents them on each command.
    const commands = join(dirname(require.resolve('@aws-sdk/client-ecr/package.json')), 'dist-types', 'commands');
    const listsValidation = (action: string) => readFileSync(join(commands, `${action}Command.d.ts`), 'utf8').includes('@throws {@link ValidationException}');
    // Berth's own actions (BerthRunLifecyclePolicy) are not in ECR's model: they answer in the modern style.
    for (const action of Object.keys(ECR_API_ACTIONS).filter((name) => !name.startsWith('Berth'))) {
      expect([action, validationStyleOf(action)]).toEqual([action, listsValidation(action) ? 'modern' : 'classic']);
    }
    expect([...CLASSIC_VALIDATION_ACTIONS].sort()).toEqual(CLASSIC_CASES.map(([action]) => action).sort());
    expect(CLASSIC_VALIDATION_ACTIONS.size).toBe(21);
  });

  test.each(CLASSIC_CASES)('GIVEN %s with %s WHEN sent THEN InvalidParameterException with ECR message', async (_action, _what, command, member, constraint) => {
    const err = await refusal(command());
    expect(err).toBeInstanceOf(InvalidParameterException);
    expect(err.message).toBe(invalidParameter(member, constraint));
  });

  test('GIVEN CreateRepository with a 1-character or a 257-character name WHEN sent THEN the length constraint ECR names', async () => {
    const short = await refusal(new CreateRepositoryCommand({ repositoryName: 'a' }));
    expect(short).toBeInstanceOf(InvalidParameterException);
    expect(short.message).toBe(invalidParameter('repositoryName', 'must have length greater than or equal to 2'));
    const long = await refusal(new CreateRepositoryCommand({ repositoryName: `a/${'b'.repeat(255)}` }));
    expect(long).toBeInstanceOf(InvalidParameterException);
    expect(long.message).toBe(invalidParameter('repositoryName', 'must have length less than or equal to 256'));
  });

  test.each(['team/a__b', 'team/a--b'])('GIVEN CreateRepository with %s (the OCI grammar takes it, ECR pattern does not) WHEN sent THEN the pattern ECR names', async (repositoryName) => {
    const refused = await refusal(new CreateRepositoryCommand({ repositoryName }));
    expect(refused).toBeInstanceOf(InvalidParameterException);
    expect(refused.message).toBe(invalidParameter('repositoryName', `must satisfy regular expression '${NAME_PATTERN}'`));
  });

  test('GIVEN a classic action WHEN a required member is missing or has the wrong JSON type THEN ValidationException "must not be null" and SerializationException stay', async () => {
    const missing = await refusal(new BatchGetImageCommand({ repositoryName: REPO } as never));
    expect(missing).toBeInstanceOf(ValidationException);
    expect(missing.message).toBe("1 validation error detected: Value null at 'imageIds' failed to satisfy constraint: Member must not be null");
    const wrongType = await refusal(new DescribeRepositoriesCommand({ maxResults: 'ten' as never }));
    expect(wrongType.name).toBe('SerializationException');
  });
});

describe('the newer actions keep ValidationException, as their API reference lists it', () => {
  test('GIVEN ListImageReferrers with a bad name or maxResults 51 WHEN sent THEN ValidationException "1 validation error detected"', async () => {
    const name = await refusal(new ListImageReferrersCommand({ repositoryName: 'Bad/Name', subjectId: { imageDigest: DIGEST } }));
    expect(name).toBeInstanceOf(ValidationException);
    expect(name.message).toBe(`1 validation error detected: Value 'Bad/Name' at 'repositoryName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${NAME_PATTERN}`);
    const max = await refusal(new ListImageReferrersCommand({ repositoryName: REPO, subjectId: { imageDigest: DIGEST }, maxResults: 51 }));
    expect(max).toBeInstanceOf(ValidationException);
    expect(max.message).toMatch(/^1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50/);
  });

  test('GIVEN PutImageScanningConfiguration with a 1-character name WHEN sent THEN ValidationException', async () => {
    const err = await refusal(new PutImageScanningConfigurationCommand({ repositoryName: 'a', imageScanningConfiguration: { scanOnPush: true } }));
    expect(err).toBeInstanceOf(ValidationException);
    expect(err.message).toBe("1 validation error detected: Value 'a' at 'repositoryName' failed to satisfy constraint: Member must have length greater than or equal to 2");
  });

  test('GIVEN creation templates with 6 exclusion filters or maxResults 1001 WHEN sent THEN ValidationException (the same checks CreateRepository answers with InvalidParameterException)', async () => {
    const filters = Array.from({ length: 6 }, (_, i) => ({ filterType: 'WILDCARD' as const, filter: `f${i}*` }));
    const template = await refusal(
      new CreateRepositoryCreationTemplateCommand({ prefix: 'team', appliedFor: ['CREATE_ON_PUSH'], imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: filters }),
    );
    expect(template).toBeInstanceOf(ValidationException);
    expect(template.message).toMatch(/^1 validation error detected: Value '.*' at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: Member must have length less than or equal to 5$/);
    const repository = await refusal(new CreateRepositoryCommand({ repositoryName: 'team/filters', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: filters }));
    expect(repository).toBeInstanceOf(InvalidParameterException);
    expect(repository.message).toBe(invalidParameter('imageTagMutabilityExclusionFilters', 'Member must have length less than or equal to 5'));
    const listing = await refusal(new DescribeRepositoryCreationTemplatesCommand({ maxResults: 1001 }));
    expect(listing).toBeInstanceOf(ValidationException);
    expect(listing.message).toBe("1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000");
  });
});
