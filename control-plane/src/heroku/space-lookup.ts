/**
 * Is this add-on's app in a Private Space? Asked only for region values shared by the
 * Common Runtime and a Private Space (us-east-1, eu-west-1), and only when the answer
 * changes the outcome. Policy `platform-api` exchanges the grant (tokens are stored for
 * the async path), then GET /addons/{uuid} → GET /apps/{id}: `space` non-null means a
 * Private Space. If Heroku cannot be reached within the timeout: 503, never a guess.
 */
import { UnavailableError } from '../../../shared/src/errors.js';
import type { PrivateSpaceLookup } from '../catalog/placement.js';
import type { ProvisionInput } from '../ops/service.js';
import { exchangeToken, type OAuthSettings, type Tokens } from './oauth.js';

export type LookupPolicy = 'platform-api' | 'assume-common-runtime' | 'assume-private-space';

export interface SpaceLookupDeps {
  policy: LookupPolicy;
  apiUrl: string;
  oauth: OAuthSettings;
  /** Keeps the tokens from the exchange (the grant works once). */
  saveTokens: (uuid: string, tokens: Tokens) => void;
  fetch?: typeof fetch;
}

async function getJson(deps: SpaceLookupDeps, path: string, token: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await (deps.fetch ?? fetch)(`${deps.apiUrl}${path}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/vnd.heroku+json; version=3' },
      signal: AbortSignal.timeout(deps.oauth.timeoutMs),
    });
  } catch (cause) {
    throw new UnavailableError('heroku_unreachable', 'Heroku could not be reached to confirm where this app runs. Please try again.', { cause });
  }
  if (!res.ok) throw new UnavailableError('heroku_lookup_failed', `Heroku answered HTTP ${res.status} while we checked where this app runs. Please try again.`);
  return (await res.json()) as Record<string, unknown>;
}

export function createSpaceLookup(deps: SpaceLookupDeps): (input: ProvisionInput) => PrivateSpaceLookup {
  return (input) => async () => {
    if (deps.policy === 'assume-common-runtime') return false;
    if (deps.policy === 'assume-private-space') return true;
    const code = input.oauth_grant?.code;
    if (!code) {
      throw new UnavailableError('no_grant', 'We cannot confirm whether this app runs in a Private Space. Please choose a plan available in Private Spaces.');
    }
    const tokens = await exchangeToken(deps.oauth, { grant_type: 'authorization_code', code });
    deps.saveTokens(input.uuid, tokens);
    const addon = await getJson(deps, `/addons/${input.uuid}`, tokens.accessToken);
    const appId = (addon.app as { id?: string } | undefined)?.id;
    if (!appId) throw new UnavailableError('heroku_lookup_failed', 'Heroku did not tell us which app this add-on belongs to. Please try again.');
    const app = await getJson(deps, `/apps/${appId}`, tokens.accessToken);
    return app.space !== null && app.space !== undefined;
  };
}
