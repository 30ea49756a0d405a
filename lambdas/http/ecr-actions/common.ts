/**
 * What every group of ECR actions shares: input validation with ECR's exception names and wording
 * (a ConstraintViolation, answered per action: InvalidParameterException "Invalid parameter at ..."
 * in the classic actions, ValidationException "1 validation error detected: ..." in the newer ones),
 * pagination tokens, the repository object as ECR shapes it, and "the repository must exist" (the
 * core's rule; its refusal is translated in ecr-errors.ts). Imported by ecr-api.ts and the action
 * modules; it imports neither.
 */
import { decodeBase64urlStrict } from '../../core/base64url';
import { isValidRepositoryName } from '../../core/names';
import { repositoryArn } from '../../contracts/ecr-actions';
import type { RepositorySettingsRecord } from '../../core/model';
import type { EcrActionContext } from './types';
import { ECR_EXCEPTIONS, EcrApiError, ecrError } from '../ecr-errors';

export type Input = Record<string, unknown>;

/**
 * How an action answers a member that breaks its pattern, length or range (docs/ecr-compatibility.md,
 * "Invalid input"). ECR's classic actions, whose API reference lists no ValidationException, answer
 * InvalidParameterException "Invalid parameter at '<member>' failed to satisfy constraint:
 * '<constraint>'"; the newer ones the AWS JSON front's ValidationException "1 validation error
 * detected: Value '<value>' at '<member>' failed to satisfy constraint: <constraint>". Helpers throw a
 * ConstraintViolation carrying both phrasings; ecr-api.ts renders it in the action's style.
 */
export type { ValidationStyle } from './types';

/** One violated constraint in both phrasings (classic: the words ECR's classic actions use, quoted by its users). */
export interface Constraint {
  modern: string;
  classic: string;
}

const both = (text: string): Constraint => ({ modern: text, classic: text });

export const constraints = {
  /** A string member's pattern. */
  pattern: (pattern: string): Constraint => ({ modern: `Member must satisfy regular expression pattern: ${pattern}`, classic: `must satisfy regular expression '${pattern}'` }),
  /** A string member's length. */
  minLength: (n: number): Constraint => ({ modern: `Member must have length greater than or equal to ${n}`, classic: `must have length greater than or equal to ${n}` }),
  maxLength: (n: number): Constraint => ({ modern: `Member must have length less than or equal to ${n}`, classic: `must have length less than or equal to ${n}` }),
  /** A list's length. */
  minItems: (n: number): Constraint => both(`Member must have length greater than or equal to ${n}`),
  maxItems: (n: number): Constraint => both(`Member must have length less than or equal to ${n}`),
  /** A number's range. */
  minValue: (n: number): Constraint => both(`Member must have value greater than or equal to ${n}`),
  maxValue: (n: number): Constraint => both(`Member must have value less than or equal to ${n}`),
  oneOf: (values: readonly string[]): Constraint => both(`Member must satisfy enum value set: [${values.join(', ')}]`),
  /** Each string of a list: its pattern. */
  eachPattern: (pattern: string): Constraint => both(`Member must satisfy constraint: [Member must satisfy regular expression pattern: ${pattern}]`),
};

/** A member that breaks a constraint: ValidationException as thrown; `classic()` is the same as InvalidParameterException. */
export class ConstraintViolation extends EcrApiError {
  constructor(
    readonly member: string,
    value: unknown,
    readonly constraint: Constraint,
  ) {
    const shown = typeof value === 'string' ? value.slice(0, 300) : JSON.stringify(value)?.slice(0, 300);
    super('ValidationException', ECR_EXCEPTIONS.ValidationException.message({ member, value: String(shown), constraint: constraint.modern }), ECR_EXCEPTIONS.ValidationException.status);
  }

  classic(): EcrApiError {
    return invalidParameter(this.member, this.constraint.classic);
  }
}

/** A required member that is absent: ValidationException in every action (the AWS JSON front's "Member must not be null"). */
export function missingMember(member: string): EcrApiError {
  return ecrError('ValidationException', { member, value: null, constraint: 'Member must not be null' });
}

/**
 * A member that breaks `constraint` (see ConstraintViolation). A constraint given as modern text
 * ("Member must satisfy regular expression pattern: ...", ...) is phrased for the classic actions as
 * ECR does where the text says how; "Member must not be null" is a missing member.
 */
export function validationError(member: string, value: unknown, constraint: string | Constraint): EcrApiError {
  if (typeof constraint !== 'string') return new ConstraintViolation(member, value, constraint);
  if (constraint === 'Member must not be null') return missingMember(member);
  const pattern = /^Member must satisfy regular expression pattern: (.*)$/s.exec(constraint);
  return new ConstraintViolation(member, value, pattern ? constraints.pattern(pattern[1]) : both(constraint));
}

/** A member of the wrong JSON type, or a body that is not what the protocol carries. */
export function serializationError(detail: string): EcrApiError {
  return ecrError('SerializationException', { detail });
}

export function invalidParameter(member: string, constraint: string): EcrApiError {
  return ecrError('InvalidParameterException', { member, constraint });
}

export function requiredString(input: Input, member: string): string {
  const value = input[member];
  if (value === undefined || value === null) throw missingMember(member);
  if (typeof value !== 'string') throw serializationError(`${member} must be a string`);
  return value;
}

export function optionalString(input: Input, member: string): string | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw serializationError(`${member} must be a string`);
  return value;
}

export function optionalBoolean(input: Input, member: string): boolean | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw serializationError(`${member} must be a boolean`);
  return value;
}

export function optionalObject(input: Input, member: string): Input | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw serializationError(`${member} must be an object`);
  return value as Input;
}

export function optionalList(input: Input, member: string, min: number, max: number): unknown[] | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw serializationError(`${member} must be a list`);
  if (value.length < min) throw validationError(member, value, constraints.minItems(min));
  if (value.length > max) throw validationError(member, value, constraints.maxItems(max));
  return value;
}

export function requiredEnum<T extends string>(input: Input, member: string, values: readonly T[]): T {
  const value = requiredString(input, member);
  if (!values.includes(value as T)) throw validationError(member, value, constraints.oneOf(values));
  return value as T;
}

/** One image id (`{imageDigest?, imageTag?}`, at least one of them) given as `member`. */
export function imageIdOf(value: unknown, member: string): { imageDigest?: string; imageTag?: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw serializationError(`${member} must be an object`);
  const imageDigest = optionalString(value as Input, 'imageDigest');
  const imageTag = optionalString(value as Input, 'imageTag');
  if (imageDigest === undefined && imageTag === undefined) throw invalidParameter(member, 'an image id needs an imageDigest or an imageTag');
  return { ...(imageDigest !== undefined ? { imageDigest } : {}), ...(imageTag !== undefined ? { imageTag } : {}) };
}

/** `maxResults`: an integer in [1, max]; `fallback` when absent. */
export function maxResultsOf(input: Input, max: number, fallback: number): number {
  const value = input.maxResults;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw serializationError('maxResults must be an integer');
  if (value < 1) throw validationError('maxResults', value, constraints.minValue(1));
  if (value > max) throw validationError('maxResults', value, constraints.maxValue(max));
  return value;
}

export const REPOSITORY_NAME_PATTERN = '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*';
const ECR_REPOSITORY_NAME = new RegExp(`^${REPOSITORY_NAME_PATTERN}$`);

/**
 * ECR's constraints (2..256 characters, ECR's pattern: no `__`, no runs of `-`) and the OCI grammar.
 * The first one broken is reported, lengths before the pattern.
 */
export function validRepositoryName(name: string, member = 'repositoryName'): string {
  if (name.length < 2) throw validationError(member, name, constraints.minLength(2));
  if (name.length > 256) throw validationError(member, name, constraints.maxLength(256));
  if (!ECR_REPOSITORY_NAME.test(name) || !isValidRepositoryName(name)) throw validationError(member, name, constraints.pattern(REPOSITORY_NAME_PATTERN));
  return name;
}

export function repositoryNameOf(input: Input): string {
  return validRepositoryName(requiredString(input, 'repositoryName'));
}

/** `registryId`, when given, must be this registry's account: there is one registry per server. */
export function checkRegistryId(input: Input, account: string): void {
  const id = input.registryId;
  if (id === undefined || id === null) return;
  if (typeof id !== 'string') throw serializationError('registryId must be a string');
  if (!/^[0-9]{12}$/.test(id)) throw validationError('registryId', id, constraints.pattern('[0-9]{12}'));
  if (id !== account) {
    throw invalidParameter('registryId', `this registry is ${account}, not ${id}`);
  }
}

/** An opaque `nextToken`: where the next page starts. */
export function encodeToken(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeToken(input: Input): Record<string, unknown> | undefined {
  const token = optionalString(input, 'nextToken');
  if (token === undefined) return undefined;
  try {
    const value = JSON.parse(decodeBase64urlStrict(token)?.toString('utf8') ?? '');
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalidParameter('nextToken', 'the token is not one this registry issued');
}

/** A timestamp as the AWS JSON protocols encode it: epoch seconds, a JSON number. */
export const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

/** The host clients address the registry by (repositoryUri is `<host>/<name>`). */
export function registryHost(context: Pick<EcrActionContext, 'options' | 'request'>): string {
  const endpoint = context.options.proxyEndpoint(context.request);
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint.replace(/^[a-z]+:\/\//, '');
  }
}

/** A repository as ECR's Repository shape. */
export function repositoryObject(context: Pick<EcrActionContext, 'options' | 'request'>, name: string, settings: RepositorySettingsRecord): Record<string, unknown> {
  const { options } = context;
  return {
    repositoryArn: repositoryArn(options.region, options.registryAccount, name),
    registryId: options.registryAccount,
    repositoryName: name,
    repositoryUri: `${registryHost(context)}/${name}`,
    createdAt: epochSeconds(settings.createdAt),
    imageTagMutability: settings.imageTagMutability,
    ...(settings.imageTagMutabilityExclusionFilters.length > 0 ? { imageTagMutabilityExclusionFilters: settings.imageTagMutabilityExclusionFilters } : {}),
    imageScanningConfiguration: settings.imageScanningConfiguration,
    encryptionConfiguration: settings.encryptionConfiguration,
  };
}

/** The repository the request names, after checking it exists (RepositoryNotFoundException otherwise). */
export async function existingRepository(context: EcrActionContext): Promise<string> {
  const { input, options } = context;
  checkRegistryId(input, options.registryAccount);
  const name = repositoryNameOf(input);
  await options.operations.repositories.require(name);
  return name;
}
