/** The one place domain errors become HTTP statuses. 5xx messages are never shown. */
import type { Context, Next } from 'koa';
import {
  AuthenticationError,
  ConflictError,
  DomainError,
  ForbiddenError,
  GoneError,
  InputError,
  NotFoundError,
  UnavailableError,
  UnprocessableError,
} from '../../../shared/src/errors.js';

const STATUS = new Map<new (...args: never[]) => DomainError, number>([
  [InputError, 400],
  [AuthenticationError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [GoneError, 410],
  [UnprocessableError, 422],
  [UnavailableError, 503],
]);

function statusOf(err: DomainError): number {
  for (const [type, status] of STATUS) if (err instanceof type) return status;
  return 500;
}

export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (err instanceof DomainError) {
      const status = statusOf(err);
      ctx.status = status;
      ctx.body = {
        message: status >= 500 && status !== 503 ? 'Internal error' : err.message,
        code: err.code,
      };
      if (status === 401) ctx.set('WWW-Authenticate', 'Basic realm="heroku"');
      return;
    }
    if (isHttpParseError(err)) {
      // The request itself is malformed (e.g. a bad chunk size in the body): the client's
      // fault, and never logged with its bytes.
      ctx.status = 400;
      ctx.body = { message: 'Malformed HTTP request', code: 'bad_request' };
      ctx.set('Connection', 'close');
      return;
    }
    const httpErr = err as {
      status?: number;
      statusCode?: number;
      expose?: boolean;
      message?: string;
      type?: string;
    };
    const status = httpErr.status ?? httpErr.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      ctx.status = status;
      ctx.body = { message: clientMessage(status, httpErr), code: httpErr.type ?? 'bad_request' };
      return;
    }
    ctx.status = 500;
    ctx.body = { message: 'Internal error', code: 'internal' };
    ctx.app.emit('error', err, ctx);
  }
}

function clientMessage(
  status: number,
  err: { expose?: boolean; message?: string; type?: string },
): string {
  if (status === 413) return 'Request body too large';
  if (err.type === 'entity.parse.failed') return 'Request body is not valid JSON';
  if (status === 415) return 'Unsupported content type: send application/json';
  return err.expose && err.message ? err.message : 'Bad request';
}

/** Node's HTTP parser errors: `code` HPE_* (and they carry the raw request in `rawPacket`). */
export function isHttpParseError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('HPE_');
}
