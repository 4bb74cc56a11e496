/**
 * A small chart drawn on the server as inline SVG (no script, no external asset: the CSP
 * stays `default-src 'none'`). One polyline over a fixed time window; a dashed line marks
 * the limit when there is one.
 */
import { esc } from './view.js';

export interface Point {
  at: Date;
  value: number;
}

export interface SparklineOptions {
  /** The window's end (ms); the window is `spanMs` long. */
  nowMs: number;
  spanMs: number;
  /** Drawn dashed, and the top of the scale when above every value. */
  limit?: number;
  label: string;
}

const W = 300;
const H = 60;
const PAD = 2;

const round = (n: number): number => Math.round(n * 10) / 10;

/** The window's points and the value at the top of the scale (the limit, or the highest). */
function scale(points: Point[], o: SparklineOptions): { shown: Point[]; top: number } {
  const start = o.nowMs - o.spanMs;
  const shown = points.filter((p) => p.at.getTime() >= start && p.at.getTime() <= o.nowMs);
  return { shown, top: Math.max(o.limit ?? 0, ...shown.map((p) => p.value), 1) };
}

const yOf = (value: number, top: number): number => round(H - PAD - (value / top) * (H - 2 * PAD));

/** Points inside the window as SVG coordinates, one per x pixel column (the highest). */
export function plot(points: Point[], o: SparklineOptions): Array<[number, number]> {
  const { shown, top } = scale(points, o);
  const start = o.nowMs - o.spanMs;
  const columns = new Map<number, number>();
  for (const p of shown) {
    const x = Math.round(((p.at.getTime() - start) / o.spanMs) * W);
    columns.set(x, Math.min(columns.get(x) ?? H, yOf(p.value, top)));
  }
  return [...columns.entries()].sort(([a], [b]) => a - b);
}

function limitLine(points: Point[], o: SparklineOptions): string {
  if (!o.limit) return '';
  const y = yOf(o.limit, scale(points, o).top);
  return `<line class="limit" x1="0" x2="${W}" y1="${y}" y2="${y}" stroke="#b54a4a" stroke-dasharray="4 3" stroke-width="1" vector-effect="non-scaling-stroke"/>`;
}

export function sparkline(points: Point[], o: SparklineOptions): string {
  const xy = plot(points, o);
  const line =
    xy.length === 1
      ? `<circle cx="${xy[0]![0]}" cy="${xy[0]![1]}" r="2" fill="#7a3ce0"/>`
      : `<polyline fill="none" stroke="#7a3ce0" stroke-width="1.5" vector-effect="non-scaling-stroke" points="${xy.map(([x, y]) => `${x},${y}`).join(' ')}"/>`;
  return `<svg class="spark" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.label)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(o.label)}</title><rect width="${W}" height="${H}" fill="#f0f2f7"/>${limitLine(points, o)}${xy.length ? line : ''}</svg>`;
}
