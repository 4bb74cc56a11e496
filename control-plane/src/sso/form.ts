/** Reads an application/x-www-form-urlencoded body (the app's body parser only takes JSON). */
import type { Context } from 'koa';

export class FormError extends Error {}

export async function readForm(ctx: Context, maxBytes: number): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new FormError('not a form');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new FormError('form too large');
    chunks.push(chunk);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
    if (!(k in out)) out[k] = v;
  return out;
}
