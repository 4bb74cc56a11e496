/** The checks both drivers make before revoking a user. */
import type { Job } from '../../../shared/src/messages.js';
import { PermanentError } from '../driver.js';

/** The user `params.revokeUser` names; never the one the URL uses now. */
export function revokableUser(job: Job, currentUser: string): string {
  const revoke = job.params.revokeUser;
  if (typeof revoke !== 'string' || revoke === '')
    throw new PermanentError('invalid_params', 'revoke_credentials needs params.revokeUser');
  if (revoke === currentUser)
    throw new PermanentError(
      'revoke_current_user',
      'cannot revoke the credentials currently in use',
    );
  return revoke;
}
