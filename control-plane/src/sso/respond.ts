/** How the SSO pages answer: security headers on every page, one 403 page for every refusal. */
import type { Context } from 'koa';
import { FormError, readForm } from './form.js';
import { forbiddenPage, type RefusalDetail } from './view.js';

const FORM_LIMIT = 16 * 1024;
const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function html(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.set(SECURITY_HEADERS);
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = body;
}

/** The 403 page, with the request id; `reason` is named only when it is a form problem. */
export const forbid = (ctx: Context, reason?: string): void => {
  const detail: RefusalDetail = { reason, requestId: ctx.state.requestId as string | undefined };
  html(ctx, 403, forbiddenPage(detail));
};

/** The posted form, or undefined after answering 403 when it is not a form or too large. */
export async function readFormOrForbid(ctx: Context): Promise<Record<string, string> | undefined> {
  try {
    return await readForm(ctx, FORM_LIMIT);
  } catch (err) {
    if (err instanceof FormError) return void forbid(ctx);
    throw err;
  }
}
