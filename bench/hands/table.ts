/**
 * The result tables of the hands benchmark: one column per thing compared (provider, or lazy /
 * eager), the targets checked against the named columns, and their formatting.
 */
import { percentile } from '../lib/stats.ts';
import type { Target } from '../lib/table.ts';

export { Table, type Target } from '../lib/table.ts';

/** The targets (and the reference architecture's figures, which the issue expects oma to beat). */
export const TARGETS = {
  firstCommandP50: { text: 'bubblewrap p50 ≤ 15 ms', isMet: (p50) => p50 <= 15 },
  ttftP50Change: { text: 'p50 −60 % or better (reference architecture)', isMet: (change) => change <= -60 },
  ttftP95Change: { text: 'p95 −90 % or better (reference architecture)', isMet: (change) => change <= -90 },
} satisfies Record<string, Target>;

export interface Summary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

export function summarise(samples: readonly number[]): Summary {
  const sorted = Array.from(Float64Array.from(samples).sort()); // typed arrays sort numerically
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, count: samples.length };
}

/** Relative change from `before` to `after`, in percent (negative: smaller). */
export const change = (before: number, after: number) => ((after - before) / before) * 100;
export function percent(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const shown = Math.abs(value).toFixed(1);
  return `${shown === '0.0' ? '' : value > 0 ? '+' : '−'}${shown} %`;
}
