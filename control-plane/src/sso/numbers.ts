/** Numbers as a customer reads them: `12.5 MB`, `3 days, 4 hours`, `1,234`. */
const SIZE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes in binary units named as the plans name them (a 25 MB plan is 25 × 1024² bytes). */
export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${SIZE_UNITS[unit]}`;
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** An uptime in its two largest units: `3 days, 4 hours`, `5 minutes`, `42 seconds`. */
export function uptime(seconds: number): string {
  const s = Math.floor(seconds);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), 'day'],
    [Math.floor((s % 86_400) / 3_600), 'hour'],
    [Math.floor((s % 3_600) / 60), 'minute'],
    [s % 60, 'second'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return plural(0, 'second');
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => plural(n, unit))
    .join(', ');
}

/** Used as a share of the limit, `5%`; under 1% but not zero reads `<1%`. */
export function percent(used: number, limit: number): string {
  const p = (used / limit) * 100;
  return p > 0 && p < 1 ? '<1%' : `${Math.round(p)}%`;
}
