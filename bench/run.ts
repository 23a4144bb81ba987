/**
 * Benchmark dispatcher.
 *
 *   npm run bench                  every benchmark in bench/, one after another
 *   npm run bench -- session-log   only bench/session-log.ts (several names may be given)
 *
 * A benchmark is a file `bench/<name>.ts` (kebab-case) that exports `main(): Promise<void>`. `main`
 * prints its own results to stdout, cleans up after itself (databases, temporary directories,
 * timers) and resolves when done; it throws on failure. Every `.ts` file in bench/ other than this
 * one and the helper scripts in `HELPERS` is taken for a benchmark, so shared helpers do not belong
 * here (they go in bench/lib/).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchmarkModule {
  main(): Promise<void>;
}

const benchDir = dirname(fileURLToPath(import.meta.url));
const self = 'run.ts';
/** Scripts in bench/ that benchmarks spawn, not benchmarks themselves. */
const HELPERS = new Set(['brain-resume.ts']); // bench/brain.ts runs it in a fresh process

const available = readdirSync(benchDir)
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && file !== self && !HELPERS.has(file))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort();

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`Unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  console.error(`Available: ${available.length > 0 ? available.join(', ') : '(none)'}`);
  process.exit(1);
}

for (const name of requested.length > 0 ? requested : available) {
  const module = (await import(pathToFileURL(join(benchDir, `${name}.ts`)).href)) as Partial<BenchmarkModule>;
  if (typeof module.main !== 'function') throw new Error(`bench/${name}.ts does not export main()`);
  console.log(`\n# ${name}\n`);
  await module.main();
}
