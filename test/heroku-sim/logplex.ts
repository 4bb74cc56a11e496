/** Parses `application/logplex-1` bodies: octet-counted (RFC 6587) RFC 5424 syslog frames. */
import type { LogLine } from './types.js';

export class LogplexParseError extends Error {}

const HEADER = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /;

export function parseLogplexBody(body: string): LogLine[] {
  const buf = Buffer.from(body, 'utf8');
  const lines: LogLine[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0x0a || buf[pos] === 0x0d || buf[pos] === 0x20) {
      pos += 1;
      continue;
    }
    const space = buf.indexOf(0x20, pos);
    const lenText = space < 0 ? '' : buf.subarray(pos, space).toString('ascii');
    if (!/^\d+$/.test(lenText))
      throw new LogplexParseError(`expected a frame length at byte ${pos}`);
    const len = Number(lenText);
    const end = space + 1 + len;
    if (end > buf.length)
      throw new LogplexParseError(
        `frame at byte ${pos} claims ${len} bytes, only ${buf.length - space - 1} left`,
      );
    lines.push(parseSyslogFrame(buf.subarray(space + 1, end).toString('utf8')));
    pos = end;
  }
  return lines;
}

export function parseSyslogFrame(frame: string): LogLine {
  const m = HEADER.exec(frame);
  if (!m)
    throw new LogplexParseError(`not an RFC 5424 frame: ${JSON.stringify(frame.slice(0, 60))}`);
  const rest = frame.slice(m[0].length);
  const { sd, msg } = splitStructuredData(rest);
  return {
    priority: Number(m[1]),
    version: Number(m[2]),
    timestamp: m[3]!,
    hostname: m[4]!,
    appName: m[5]!,
    procId: m[6]!,
    msgId: m[7]!,
    structuredData: sd,
    message: msg.replace(/\r?\n$/, ''),
  };
}

function splitStructuredData(rest: string): { sd: string; msg: string } {
  if (rest.startsWith('-')) return { sd: '-', msg: rest.slice(rest.startsWith('- ') ? 2 : 1) };
  if (!rest.startsWith('[')) throw new LogplexParseError('missing STRUCTURED-DATA');
  let i = 0;
  while (rest[i] === '[') {
    const close = findClose(rest, i);
    i = close + 1;
  }
  return { sd: rest.slice(0, i), msg: rest.slice(rest[i] === ' ' ? i + 1 : i) };
}

function findClose(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i += 1;
    else if (s[i] === ']') return i;
  }
  throw new LogplexParseError('unterminated STRUCTURED-DATA');
}

/** Builds a logplex-1 body (what a partner sends), for tests and the driver. */
export function formatLogplexBody(
  messages: string[],
  opts: { host?: string; app?: string; procId?: string; time?: Date } = {},
): string {
  const ts = (opts.time ?? new Date()).toISOString();
  return messages
    .map((msg) => {
      const frame = `<190>1 ${ts} ${opts.host ?? 'host'} ${opts.app ?? 'app'} ${opts.procId ?? 'tlsredis'} - - ${msg}`;
      return `${Buffer.byteLength(frame, 'utf8')} ${frame}`;
    })
    .join('');
}
