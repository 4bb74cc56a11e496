import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

/**
 * Paths redacted in every log line. Secrets must never be logged (DEVELOPERS.md);
 * a test greps real logs for the secrets it used.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'config',
  '*.config',
  'oauth_grant',
  '*.oauth_grant',
  '*.code_secret',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'token',
  '*.token',
  'resource_token',
  'user_scoped_resource_token',
  'url',
  '*.databaseUrl',
  '*.natsUrl',
  'databaseUrl',
  'natsUrl',
  'log_input_url',
  '*.log_input_url',
];

export interface LoggerSettings {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: settings.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

export type { Logger };
