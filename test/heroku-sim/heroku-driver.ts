/** The simulator acting as Heroku: registers add-ons and sends the partner calls to any control plane. */
import { randomBytes, randomUUID } from 'node:crypto';
import { baseUrl, sendToCp, sha1Hex, sha256Hex } from './driver.js';
import { SERVICE_NAME } from './platform-api.js';
import { resolveRegion } from './regions.js';
import type { SimState } from './state.js';
import type {
  BasicAuth,
  CpResponse,
  CreateAddonInput,
  ProvisionBody,
  SimAddon,
  SsoFormFields,
  SsoInput,
} from './types.js';

export interface HerokuDriver {
  /** Registers app + add-on + grant code; returns the body Heroku would POST to base_url. */
  createAddon(input: CreateAddonInput): ProvisionBody;
  provision(
    cpUrl: string,
    body: ProvisionBody | Record<string, unknown>,
    auth: BasicAuth,
  ): Promise<CpResponse>;
  changePlan(cpUrl: string, uuid: string, plan: string, auth: BasicAuth): Promise<CpResponse>;
  deprovision(cpUrl: string, uuid: string, auth: BasicAuth): Promise<CpResponse>;
  ssoForm(uuid: string, input: SsoInput): SsoFormFields;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function applyConfig(addon: SimAddon | undefined, body: unknown): void {
  if (!addon || !isObject(body) || !isObject(body.config)) return;
  for (const [k, v] of Object.entries(body.config))
    if (typeof v === 'string') addon.config.set(k, v);
}

export function createHerokuDriver(
  state: SimState,
  simUrl: string,
  now: () => number,
): HerokuDriver {
  return {
    createAddon(input) {
      const privateSpace = input.app?.privateSpace ?? false;
      const region = resolveRegion(input.region, privateSpace);
      const appId = randomUUID();
      const appName = input.app?.name ?? `sim-app-${randomBytes(3).toString('hex')}`;
      state.apps.set(appId, { id: appId, name: appName, region: region.name, privateSpace });
      const uuid = randomUUID();
      const logToken = `t.${randomUUID()}`;
      const name = `${SERVICE_NAME}-${randomBytes(4).toString('hex')}`;
      state.addons.set(uuid, {
        id: uuid,
        name,
        plan: input.plan,
        region: region.value,
        state: 'provisioning',
        appId,
        providerId: null,
        config: new Map(),
        logToken,
        provisionActionCalls: 0,
        deprovisionActionCalls: 0,
      });
      state.addonByLogToken.set(logToken, uuid);
      state.logs.set(uuid, []);
      const grant = state.createGrant(uuid);
      return {
        uuid,
        name,
        plan: input.plan,
        region: region.value,
        callback_url: `${simUrl}/addons/${uuid}`,
        oauth_grant: {
          code: grant.code,
          expires_at: new Date(grant.expiresAt).toISOString(),
          type: 'authorization_code',
        },
        options: {},
        log_input_url: `${simUrl}/logs/${logToken}`,
      };
    },

    async provision(cpUrl, body, auth) {
      const res = await sendToCp('POST', baseUrl(cpUrl), auth, body);
      const addon = typeof body.uuid === 'string' ? state.addons.get(body.uuid) : undefined;
      if (addon && res.status >= 200 && res.status < 300 && isObject(res.body)) {
        if (typeof res.body.id === 'string') addon.providerId = res.body.id;
        if (res.status !== 202 && addon.state === 'provisioning') addon.state = 'provisioned';
        applyConfig(addon, res.body);
      }
      return { status: res.status, body: res.body };
    },

    async changePlan(cpUrl, uuid, plan, auth) {
      const res = await sendToCp('PUT', `${baseUrl(cpUrl)}/${encodeURIComponent(uuid)}`, auth, {
        uuid,
        plan,
      });
      const addon = state.addons.get(uuid);
      if (addon && res.status >= 200 && res.status < 300) {
        addon.plan = plan;
        applyConfig(addon, res.body);
      }
      return { status: res.status, body: res.body };
    },

    async deprovision(cpUrl, uuid, auth) {
      const res = await sendToCp('DELETE', `${baseUrl(cpUrl)}/${encodeURIComponent(uuid)}`, auth);
      const addon = state.addons.get(uuid);
      // 202 means async deprovisioning: the partner finishes with actions/deprovision and keeps its token until then.
      if (addon && (res.status === 200 || res.status === 204)) {
        addon.state = 'deprovisioned';
        state.revokeTokens(uuid);
      }
      return { status: res.status, body: res.body };
    },

    ssoForm(uuid, input) {
      const addon = state.addons.get(uuid);
      const appName = addon ? (state.apps.get(addon.appId)?.name ?? '') : '';
      const timestamp = String(input.timestamp ?? Math.floor(now() / 1000));
      const navData = {
        addon: addon?.name ?? uuid,
        appname: appName,
        addons: [{ slug: SERVICE_NAME, name: addon?.name ?? uuid, current: true }],
      };
      return {
        resource_id: uuid,
        resource_token: sha1Hex(`${uuid}:${input.salt}:${timestamp}`),
        user_scoped_resource_token: sha256Hex(
          `${uuid}:${input.salt}:${timestamp}:${input.userId}:${input.email}`,
        ),
        timestamp,
        user_id: input.userId,
        email: input.email,
        app: appName,
        context_app: appName,
        'nav-data': Buffer.from(JSON.stringify(navData)).toString('base64url'),
      };
    },
  };
}
