/**
 * The simulator's state on disk (`stateFile`): apps, add-ons with their config, grants,
 * tokens and the last log lines, so a restarted simulator still knows every add-on it
 * registered and the control plane's config and log calls keep working. Written atomically
 * with mode 0600 (it holds the simulated add-ons' config and tokens).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AccessToken, Grant, SimState } from './state.js';
import type { LogLine, SimAddon, SimApp } from './types.js';

/** Log lines kept per add-on across restarts. */
const LOG_LINES_KEPT = 500;

interface Snapshot {
  version: 1;
  partnerUserId: string;
  apps: SimApp[];
  addons: Array<Omit<SimAddon, 'config'> & { config: Record<string, string> }>;
  grants: Grant[];
  accessTokens: AccessToken[];
  refreshTokens: Array<[string, string]>;
  logs: Array<[string, LogLine[]]>;
}

function snapshot(state: SimState): Snapshot {
  return {
    version: 1,
    partnerUserId: state.partnerUserId,
    apps: [...state.apps.values()],
    addons: [...state.addons.values()].map((a) => ({ ...a, config: Object.fromEntries(a.config) })),
    grants: [...state.grants.values()],
    accessTokens: [...state.accessTokens.values()],
    refreshTokens: [...state.refreshTokens],
    logs: [...state.logs].map(([id, lines]) => [id, lines.slice(-LOG_LINES_KEPT)]),
  };
}

export function saveState(state: SimState, path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, JSON.stringify(snapshot(state)), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** Fills an empty state from `path`; nothing happens when there is no file yet. */
export function loadState(state: SimState, path: string): void {
  if (!existsSync(path)) return;
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  if (s.version !== 1) throw new Error(`${path}: unknown simulator state version`);
  state.partnerUserId = s.partnerUserId;
  for (const app of s.apps) state.apps.set(app.id, app);
  for (const a of s.addons) {
    state.addons.set(a.id, { ...a, config: new Map(Object.entries(a.config)) });
    state.addonByLogToken.set(a.logToken, a.id);
  }
  for (const g of s.grants) {
    state.grants.set(g.code, g);
    state.grantByAddon.set(g.addonId, g.code);
  }
  for (const t of s.accessTokens) state.accessTokens.set(t.token, t);
  for (const [token, id] of s.refreshTokens) state.refreshTokens.set(token, id);
  for (const [id, lines] of s.logs) state.logs.set(id, lines);
}
