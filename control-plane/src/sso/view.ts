/** Server-rendered pages of the SSO dashboard. Every interpolated value goes through esc(). */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2430;background:#f5f6fa}
main{max-width:960px;margin:0 auto;padding:1.5rem 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:0 0 .75rem}
.muted{color:#5b6275;font-size:.9rem}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));margin-top:1rem}
.card{background:#fff;border:1px solid #dde1ea;border-radius:8px;padding:1rem 1.25rem;overflow-wrap:break-word}
.card p code,.snippet code{overflow-wrap:break-word}
.nowrap{white-space:nowrap}dd{overflow-x:auto}
pre{margin:.4rem 0;padding:.6rem;background:#f0f2f7;border-radius:6px;white-space:pre-wrap}pre code{background:none;padding:0}
button.copy{padding:.2rem .6rem;margin:0 0 .6rem;font-size:.85rem;background:#fff;color:#5b2fb0}
footer{margin-top:1.5rem}footer a{margin-right:1rem;color:#5b2fb0}
dl{display:grid;grid-template-columns:minmax(6rem,max-content) 1fr;gap:.35rem 1rem;margin:0}dt{color:#5b6275}dd{margin:0}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f0f2f7;padding:.1em .3em;border-radius:4px}
table{width:100%;border-collapse:collapse;font-size:.92rem}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #eceef4}
.wide{grid-column:1/-1;overflow-x:auto}
.badge{display:inline-block;white-space:nowrap;padding:.05rem .5rem;border-radius:999px;background:#e8ecf8;font-size:.85rem}
.s-provisioned,.s-succeeded{background:#dff3e4}.s-failed{background:#fbe0e0}
button{font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid #7a3ce0;background:#7a3ce0;color:#fff;cursor:pointer}
details summary{cursor:pointer;color:#5b2fb0}details{margin-bottom:.9rem}td,th{white-space:nowrap}
.chart{margin:.9rem 0 0}.spark{display:block;width:100%;max-width:600px;height:auto}meter{width:8rem;vertical-align:middle}
.notice{max-width:560px;margin:10vh auto;text-align:center}
@media (max-width:600px){main{padding:1rem .6rem}dl{grid-template-columns:1fr}dt{margin-top:.4rem}}
`;

export function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title>
<style>${CSS}</style></head><body><main>${body}</main></body></html>`;
}

/**
 * Why a sign-in form was refused, for the problems a page may name: the form's shape, which
 * anyone holding the form can see anyway. A token, timestamp, replay or unknown-resource
 * refusal is never named (it would help whoever forges one).
 */
const FORM_PROBLEMS: Record<string, string> = {
  missing_email:
    "The sign-in form has no <code>email</code> field. Heroku sends the signed-in user's email; a form built by hand must send it too.",
  missing_token:
    'The sign-in form has neither <code>resource_token</code> nor <code>user_scoped_resource_token</code>.',
  bad_resource_id: "The sign-in form's <code>resource_id</code> is not an add-on id.",
  bad_timestamp: 'The sign-in form has no valid <code>timestamp</code> (Unix seconds).',
};

export interface RefusalDetail {
  /** The refusal reason, shown only when it is a form problem (see FORM_PROBLEMS). */
  reason?: string;
  /** Shown so a customer can quote it to support. */
  requestId?: string;
}

/** The one page for every refused login or access: only a malformed form is explained. */
export function forbiddenPage(detail: RefusalDetail = {}): string {
  const problem = detail.reason ? FORM_PROBLEMS[detail.reason] : undefined;
  const why = problem
    ? `<p>${problem}</p>`
    : `<p>This link is not valid any more. Open the add-on again from the Heroku Dashboard or with
<code>heroku addons:open</code>.</p>`;
  const ref = detail.requestId
    ? `<p class="muted">Request id <code>${esc(detail.requestId)}</code>: quote it if you contact support.</p>`
    : '';
  return layout(
    'Access denied',
    `<div class="notice card"><h1>We could not sign you in</h1>
${why}${ref}</div>`,
  );
}

export function expiredPage(): string {
  return layout(
    'Session expired',
    `<div class="notice card"><h1>Your session has expired</h1>
<p>Open the add-on from Heroku again to continue.</p></div>`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(
    title,
    `<div class="notice card"><h1>${esc(title)}</h1><p>${esc(message)}</p></div>`,
  );
}

/** rediss://user:secret@host:port → rediss://user:••••••••@host:port */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1••••••••@');
}
