/**
 * Refusals of the repository and image operations that the OCI error catalogue (errors.ts) has no
 * code for: they come from the control plane's rules (a repository that exists already, a policy
 * that is not there, a tag quota). Each transport names them in its own vocabulary; the ECR API
 * translates them, with the RegistryErrors the same operations throw, in http/ecr-errors.ts.
 */
export const DOMAIN_ERRORS = {
  REPOSITORY_EXISTS: 'a repository of that name exists already',
  REPOSITORY_NOT_EMPTY: 'the repository still holds images',
  REPOSITORY_POLICY_UNKNOWN: 'the repository has no policy',
  REGISTRY_POLICY_UNKNOWN: 'the registry has no policy',
  TEMPLATE_EXISTS: 'a repository creation template with that prefix exists already',
  TEMPLATE_UNKNOWN: 'no repository creation template has that prefix',
  TOO_MANY_TAGS: 'a repository holds at most 50 resource tags',
  IMAGE_EXISTS: 'the image exists already with that digest and tag',
  LAYER_EXISTS: 'the repository has the layer already',
  UPLOAD_EMPTY: 'the upload holds no bytes',
  LAYER_PART_INVALID: 'the layer part does not continue the upload',
  LIFECYCLE_POLICY_UNKNOWN: 'the repository has no lifecycle policy',
  LIFECYCLE_PREVIEW_UNKNOWN: 'no lifecycle policy preview was started for the repository',
  LIFECYCLE_PREVIEW_IN_PROGRESS: 'a lifecycle policy preview of the repository is in progress',
  EXCLUSION_EXISTS: 'the principal is on the pull time update exclusion list already',
  EXCLUSION_UNKNOWN: 'the principal is not on the pull time update exclusion list',
  EXCLUSION_LIMIT: 'the pull time update exclusion list is full',
} as const;

export type DomainErrorKind = keyof typeof DOMAIN_ERRORS;

/** What each kind carries besides its message. */
export interface DomainErrorDetail {
  REPOSITORY_EXISTS: { name: string };
  REPOSITORY_NOT_EMPTY: { name: string };
  REPOSITORY_POLICY_UNKNOWN: { name: string };
  REGISTRY_POLICY_UNKNOWN: Record<string, never>;
  TEMPLATE_EXISTS: { prefix: string };
  TEMPLATE_UNKNOWN: { prefix: string };
  /** How many tags the repository would have. */
  TOO_MANY_TAGS: { count: number; max: number };
  IMAGE_EXISTS: { name: string; digest: string; tag?: string };
  LAYER_EXISTS: { name: string; digest: string };
  UPLOAD_EMPTY: { upload: string };
  /** The bytes the upload holds (the next part must start there). */
  LAYER_PART_INVALID: { offset: number };
  LIFECYCLE_POLICY_UNKNOWN: { name: string };
  LIFECYCLE_PREVIEW_UNKNOWN: { name: string };
  LIFECYCLE_PREVIEW_IN_PROGRESS: { name: string };
  EXCLUSION_EXISTS: { principalArn: string };
  EXCLUSION_UNKNOWN: { principalArn: string };
  EXCLUSION_LIMIT: { max: number };
}

export class DomainError<K extends DomainErrorKind = DomainErrorKind> extends Error {
  constructor(
    readonly kind: K,
    readonly detail: DomainErrorDetail[K],
    message?: string,
  ) {
    super(message ?? DOMAIN_ERRORS[kind]);
    this.name = 'DomainError';
  }
}

export function isDomainError<K extends DomainErrorKind>(err: unknown, kind?: K): err is DomainError<K> {
  return err instanceof DomainError && (kind === undefined || err.kind === kind);
}
