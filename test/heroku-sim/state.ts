/** In-memory Heroku state: apps, add-ons, grant codes, token pairs, log lines. */
import { randomUUID } from 'node:crypto';
import type { LogLine, RateLimitOptions, SimAddon, SimApp } from './types.js';

export interface Grant {
  code: string;
  addonId: string;
  expiresAt: number;
  used: boolean;
}

export interface AccessToken {
  token: string;
  addonId: string;
  expiresAt: number;
  revoked: boolean;
}

export interface IssuedTokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: 'Bearer';
  user_id: string;
  session_nonce: null;
}

interface Bucket {
  requests: number;
  at: number;
}

export type TokenCheck =
  { ok: true; addonId: string } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' };

export class SimState {
  readonly apps = new Map<string, SimApp>();
  readonly addons = new Map<string, SimAddon>();
  readonly grants = new Map<string, Grant>();
  readonly grantByAddon = new Map<string, string>();
  readonly accessTokens = new Map<string, AccessToken>();
  /** refresh token → add-on id */
  readonly refreshTokens = new Map<string, string>();
  readonly logs = new Map<string, LogLine[]>();
  readonly addonByLogToken = new Map<string, string>();
  partnerUserId: string = randomUUID();
  /** add-on id → what is left of its authorization's request budget */
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly now: () => number,
    private readonly accessTokenTtlS: number,
    private readonly grantTtlS: number,
    readonly rateLimit: Required<Pick<RateLimitOptions, 'capacity' | 'refillPerMinute'>> &
      Pick<RateLimitOptions, 'retryAfterS'> = { capacity: 4500, refillPerMinute: 75 },
  ) {}

  /** Spends one request of the add-on token's budget; nothing is spent when it is empty. */
  spendRequest(addonId: string): { ok: boolean; remaining: number } {
    const bucket = this.refilled(addonId);
    if (bucket.requests < 1) return { ok: false, remaining: 0 };
    bucket.requests -= 1;
    return { ok: true, remaining: Math.floor(bucket.requests) };
  }

  setRateLimitRemaining(addonId: string, remaining: number): void {
    this.buckets.set(addonId, { requests: remaining, at: this.now() });
  }

  private refilled(addonId: string): Bucket {
    const now = this.now();
    const { capacity, refillPerMinute } = this.rateLimit;
    const bucket = this.buckets.get(addonId) ?? { requests: capacity, at: now };
    bucket.requests = Math.min(
      capacity,
      bucket.requests + ((now - bucket.at) * refillPerMinute) / 60_000,
    );
    bucket.at = now;
    this.buckets.set(addonId, bucket);
    return bucket;
  }

  createGrant(addonId: string): Grant {
    const grant: Grant = {
      code: randomUUID(),
      addonId,
      expiresAt: this.now() + this.grantTtlS * 1000,
      used: false,
    };
    this.grants.set(grant.code, grant);
    this.grantByAddon.set(addonId, grant.code);
    return grant;
  }

  /** Single use: a second redemption fails even within the lifetime. */
  redeemGrant(code: string): string | undefined {
    const grant = this.grants.get(code);
    if (!grant || grant.used || grant.expiresAt <= this.now()) return undefined;
    grant.used = true;
    return grant.addonId;
  }

  expireGrant(addonId: string): void {
    const code = this.grantByAddon.get(addonId);
    const grant = code === undefined ? undefined : this.grants.get(code);
    if (!grant) throw new Error(`no grant for add-on ${addonId}`);
    grant.expiresAt = this.now() - 1;
  }

  issueTokens(addonId: string, refreshToken?: string): IssuedTokens {
    const access: AccessToken = {
      token: `sim-access-${randomUUID()}`,
      addonId,
      expiresAt: this.now() + this.accessTokenTtlS * 1000,
      revoked: false,
    };
    this.accessTokens.set(access.token, access);
    const refresh = refreshToken ?? `sim-refresh-${randomUUID()}`;
    this.refreshTokens.set(refresh, addonId);
    return {
      access_token: access.token,
      refresh_token: refresh,
      expires_in: this.accessTokenTtlS,
      token_type: 'Bearer',
      user_id: this.partnerUserId,
      session_nonce: null,
    };
  }

  checkAccessToken(token: string): TokenCheck {
    const t = this.accessTokens.get(token);
    if (!t) return { ok: false, reason: 'unknown' };
    if (t.revoked) return { ok: false, reason: 'revoked' };
    if (t.expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, addonId: t.addonId };
  }

  /** After deprovisioning the partner authorization is removed: all tokens of the add-on stop working. */
  revokeTokens(addonId: string): void {
    for (const t of this.accessTokens.values()) if (t.addonId === addonId) t.revoked = true;
    for (const [r, id] of this.refreshTokens) if (id === addonId) this.refreshTokens.delete(r);
  }

  expireAccessTokens(addonId?: string): void {
    for (const t of this.accessTokens.values())
      if (addonId === undefined || t.addonId === addonId) t.expiresAt = this.now() - 1;
  }

  addonOrThrow(id: string): SimAddon {
    const addon = this.addons.get(id);
    if (!addon) throw new Error(`unknown add-on ${id}`);
    return addon;
  }
}
