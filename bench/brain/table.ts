/** The result tables of the brain benchmark (one column per backend, targets checked), and their formatting. */
import { integer, ms } from '../lib/stats.ts';
import { BACKENDS, type BackendName } from './harness.ts';

export interface Target {
  text: string;
  isMet(value: number): boolean;
}

interface Row {
  measure: string;
  cells: Partial<Record<BackendName, string>>;
  target?: Target;
  /** Per backend, the value the target is checked against. */
  checked: Partial<Record<BackendName, number>>;
}

export class Table {
  private readonly rows: Row[] = [];

  constructor(
    readonly title: string,
    readonly how: string,
  ) {}

  record(measure: string, backend: BackendName, text: string, check?: { target: Target; value: number }) {
    let row = this.rows.find((candidate) => candidate.measure === measure);
    if (!row) this.rows.push((row = { measure, cells: {}, checked: {} }));
    row.cells[backend] = text;
    if (check) {
      row.target = check.target;
      row.checked[backend] = check.value;
    }
  }

  print(skipped: Partial<Record<BackendName, string>>) {
    console.log(`\n## ${this.title}\n`);
    console.log(`How measured: ${this.how}\n`);
    if (this.rows.length === 0) {
      console.log('(nothing measured: PostgreSQL only, and PostgreSQL was skipped)');
      return;
    }
    console.log('| measure | PGlite | PostgreSQL | target |');
    console.log('| --- | ---: | ---: | --- |');
    for (const row of this.rows) {
      let target = '';
      if (row.target) {
        const verdicts = BACKENDS.flatMap((backend) => {
          const value = row.checked[backend];
          return value === undefined ? [] : [`${backend} ${row.target!.isMet(value) ? 'met' : '**missed**'}`];
        });
        target = `${row.target.text}${verdicts.length > 0 ? ` — ${verdicts.join(', ')}` : ''}`;
      }
      const cell = (backend: BackendName) => row.cells[backend] ?? skipped[backend] ?? 'n/a';
      console.log(`| ${row.measure} | ${cell('PGlite')} | ${cell('PostgreSQL')} | ${target} |`);
    }
  }
}

/** The issue's targets. */
export const TARGETS = {
  turnP50: { text: 'p50 ≤ 2 ms', isMet: (p50) => p50 <= 2 },
  flat: { text: 'flat in history (taken as ≤ 1.25×)', isMet: (ratio) => ratio <= 1.25 },
  walPerTurn: { text: '≤ 4 KiB per turn', isMet: (bytes) => bytes <= 4_096 },
  walConstant: { text: 'constant (taken as ≤ 1.25×)', isMet: (ratio) => ratio <= 1.25 },
  resumeWarm: { text: '≤ 20 ms', isMet: (value) => value <= 20 },
  resumeFresh: { text: '≤ 0.5 s', isMet: (value) => value <= 500 },
  firstEventP50: { text: 'p50 ≤ 20 ms', isMet: (p50) => p50 <= 20 },
} satisfies Record<string, Target>;

export const bytes = (value: number) => `${integer(value)} B (${(value / 1024).toFixed(2)} KiB)`;
export const pair = (summary: { p50: number; p99: number }) => `${ms(summary.p50)} / ${ms(summary.p99)}`;
