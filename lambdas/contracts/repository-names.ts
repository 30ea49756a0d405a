/**
 * The repository name grammar (the OCI distribution spec's, within ECR's limits), as a contract:
 * clients name repositories by it, and the CDK constructs validate repository patterns against it.
 */
export { isValidRepositoryName, MAX_NAME_LENGTH } from '../core/names';
