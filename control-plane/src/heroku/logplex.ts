/** Writing lines into an app's log stream through its logplex input URL (log_input). */
export function logplexFrame(
  message: string,
  opts: { appName: string; procId: string; at?: Date },
): string {
  const line = `<190>1 ${(opts.at ?? new Date()).toISOString()} host ${opts.appName} ${opts.procId} - - ${message}`;
  return `${Buffer.byteLength(line)} ${line}`;
}

/** fetch refuses credentials in URLs: move the userinfo into a Basic header. */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  const u = new URL(raw);
  if (!u.username && !u.password) return { url: raw };
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization };
}
