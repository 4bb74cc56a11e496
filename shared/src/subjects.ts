/**
 * NATS subjects and stream names: the one place they are spelled.
 * Tokens are lowercase, broad to narrow (`jobs.<region>.<kind>`).
 */
import type { OperationKind } from './messages.js';

export const JOBS_STREAM = 'JOBS';
export const RESULTS_STREAM = 'RESULTS';
export const AGENTS_STREAM = 'AGENTS';

const TOKEN = /^[a-z0-9][a-z0-9-]*$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value))
    throw new Error(`invalid ${what} subject token: ${JSON.stringify(value)}`);
  return value;
}

export function jobSubject(agentRegion: string, kind: OperationKind): string {
  return `jobs.${token(agentRegion, 'region')}.${kind}`;
}

export function jobsFilter(agentRegion: string): string {
  return `jobs.${token(agentRegion, 'region')}.>`;
}

export function resultSubject(agentRegion: string, resourceId: string): string {
  return `results.${token(agentRegion, 'region')}.${token(resourceId, 'resource')}`;
}

export function heartbeatSubject(agentRegion: string): string {
  return `agents.${token(agentRegion, 'region')}.heartbeat`;
}

export function inventorySubject(agentRegion: string): string {
  return `agents.${token(agentRegion, 'region')}.inventory`;
}

/** Core NATS request subject an agent answers with its inventory on demand. */
export function inventoryRequestSubject(agentRegion: string): string {
  return `agents.${token(agentRegion, 'region')}.inventory.request`;
}

/**
 * Core NATS request subject a local-driver agent answers with the data it holds
 * (region-agent/src/agent/ownership.ts): one region's instances live in one data dir.
 */
export function ownerSubject(agentRegion: string): string {
  return `agents.${token(agentRegion, 'region')}.owner`;
}

/** Durable consumer name for one region's agent. */
export function jobsConsumerName(agentRegion: string): string {
  return `agent-${token(agentRegion, 'region')}`;
}

export const JOBS_SUBJECTS = 'jobs.>';
export const RESULTS_SUBJECTS = 'results.>';
export const AGENTS_SUBJECTS = ['agents.*.heartbeat', 'agents.*.inventory'];
