/** A result table for benchmarks: one column per thing compared, the issue's targets checked per column, printed as markdown. */

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

  /** `skipped`: per column, what to show where nothing was recorded (why it was skipped); else `missing`. */
  print(skipped: Record<string, string> = {}, missing = 'n/a') {
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
      const cell = (column: string) => row.cells[column] ?? skipped[column] ?? missing;
      console.log(`| ${row.measure} | ${this.columns.map(cell).join(' | ')} | ${target} |`);
    }
  }
}
