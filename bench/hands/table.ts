/**
 * The result tables of the hands benchmark: one column per thing compared (provider, or lazy /
 * eager), the issue's targets checked against the named columns, and their formatting.
 */
import { percentile } from '../lib/stats.ts';

export interface Target {
  text: string;
  isMet(value: number): boolean;
}

interface Row {
  measure: string;
  cells: Record<string, string>;
  target?: Target;
  /** Per column, the value the target is checked against. */
  checked: Record<string, number>;
}

export class Table {
  private readonly rows: Row[] = [];

  constructor(
    readonly title: string,
    readonly how: string,
    readonly columns: readonly string[],
  ) {}

  record(measure: string, column: string, text: string, check?: { target: Target; value: number }) {
    if (!this.columns.includes(column)) throw new Error(`${this.title}: no column ${column}`);
    let row = this.rows.find((candidate) => candidate.measure === measure);
    if (!row) this.rows.push((row = { measure, cells: {}, checked: {} }));
    row.cells[column] = text;
    if (check) {
      row.target = check.target;
      row.checked[column] = check.value;
    }
  }

  /** `skipped`: per column, what to show where nothing was recorded (why it was skipped). */
  print(skipped: Record<string, string> = {}) {
    console.log(`\n## ${this.title}\n`);
    console.log(`How measured: ${this.how}\n`);
    console.log(`| measure | ${this.columns.join(' | ')} | target |`);
    console.log(`| --- | ${this.columns.map(() => '---:').join(' | ')} | --- |`);
    for (const row of this.rows) {
      let target = '';
      if (row.target) {
        const verdicts = this.columns.flatMap((column) => {
          const value = row.checked[column];
          return value === undefined ? [] : [`${column} ${row.target!.isMet(value) ? 'met' : '**missed**'}`];
        });
        target = `${row.target.text}${verdicts.length > 0 ? ` — ${verdicts.join(', ')}` : ''}`;
      }
      const cell = (column: string) => row.cells[column] ?? skipped[column] ?? 'n/a';
      console.log(`| ${row.measure} | ${this.columns.map(cell).join(' | ')} | ${target} |`);
    }
  }
}

/** The issue's targets (and the reference architecture's figures, which the issue expects oma to beat). */
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
