import { IdentityConfigError, loadIdentities, readIdentityConfig, type LocalIdentities } from '../composition/local/identities';
import { fail } from './options';

/** The identities of `--config FILE` and the BERTH_ACCESS_KEY_ID admin, or the usage error naming the file. */
export function identitiesOption(config: string | undefined): LocalIdentities {
  try {
    return loadIdentities(config !== undefined ? readIdentityConfig(config) : undefined);
  } catch (err) {
    if (err instanceof IdentityConfigError) fail(config !== undefined ? `${config}: ${err.message}` : err.message);
    throw err;
  }
}
