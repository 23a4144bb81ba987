import { cpus, loadavg } from 'node:os';

/** Shared by the benchmarks: percentiles, number formatting, and the machine they ran on. */

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarise(samples: readonly number[]): { p50: number; p99: number; count: number } {
  const sorted = Array.from(Float64Array.from(samples).sort()); // typed arrays sort numerically
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), count: samples.length };
}

/** Milliseconds with about three significant digits. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

export const integer = (value: number) => Math.round(value).toLocaleString('en-US');

/** 1, 5 and 15 minute load averages. */
export const loadAverage = () =>
  loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');

/** One line saying where the figures come from (other work on the machine skews every number). */
export function environmentLine(): string {
  const cpuList = cpus();
  return [
    `node ${process.version}`,
    `${process.platform}/${process.arch}`,
    `${cpuList.length} × ${cpuList[0]?.model.trim() ?? 'unknown CPU'}`,
    `load average ${loadAverage()}`,
    `started ${new Date().toISOString()}`,
  ].join(', ');
}
