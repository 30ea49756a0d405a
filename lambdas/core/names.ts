import { RegistryError } from './errors';
import { parseDigest, type Digest } from './digest';

/** OCI Distribution Spec grammar for repository names (path components separated by `/`). */
const NAME_GRAMMAR = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** ECR's limit, and well within what fits in a URL path and a storage key. */
export const MAX_NAME_LENGTH = 256;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(name);
}

export function validateRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name: lowercase letters, digits and separators (. _ __ -), components joined by "/", at most ${MAX_NAME_LENGTH} characters`,
      { name: name.slice(0, MAX_NAME_LENGTH + 16) },
    );
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

export function validateTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError('TAG_INVALID', 'invalid tag: letters, digits, _ . - starting with a letter, digit or _, at most 128 characters', {
      tag: tag.slice(0, 160),
    });
  }
  return tag;
}

/** A manifest reference from a URL: either a tag or a digest. */
export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

export function parseReference(reference: string): Reference {
  if (reference.includes(':')) return { kind: 'digest', digest: parseDigest(reference) };
  return { kind: 'tag', tag: validateTag(reference) };
}
