/** Dates as a customer reads them: `1 Mar 2027, 19:08 UTC`, and `in 90 days` / `3 hours ago`. */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

export function readableDate(d: Date): string {
  const date = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  return `${date}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

const UNITS: Array<[string, number]> = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** How far `d` is from `nowMs`, in the largest whole unit (under a minute: "now"). */
export function relativeTime(d: Date, nowMs: number): string {
  const delta = d.getTime() - nowMs;
  const abs = Math.abs(delta);
  const unit = UNITS.find(([, ms]) => abs >= ms);
  if (!unit) return 'now';
  const n = Math.floor(abs / unit[1]);
  const text = `${n} ${unit[0]}${n === 1 ? '' : 's'}`;
  return delta > 0 ? `in ${text}` : `${text} ago`;
}

/** A duration in seconds as words: 7200 → "2 hours", 90 → "1 minute". */
export function duration(seconds: number): string {
  const unit = UNITS.find(([, ms]) => seconds * 1000 >= ms);
  if (!unit) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const n = Math.floor((seconds * 1000) / unit[1]);
  return `${n} ${unit[0]}${n === 1 ? '' : 's'}`;
}
