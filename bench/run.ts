/**
 * Benchmark dispatcher.
 *
 *   npm run bench                  every benchmark in bench/, one after another
 *   npm run bench -- session-log   only bench/session-log.ts (several names may be given)
 *
 * A benchmark is a file `bench/<name>.ts`, or a folder `bench/<name>/` whose entry is `index.ts`
 * (kebab-case names), that exports `main(): Promise<void>`. `main` prints its own results to stdout,
 * cleans up after itself (databases, temporary directories, timers) and resolves when done; it
 * throws on failure. Every `.ts` file in bench/ other than this one, and every folder of bench/ with
 * an `index.ts` other than bench/lib/, is taken for a benchmark, so shared helpers do not belong in
 * bench/ itself (they go in bench/lib/); a folder benchmark keeps its own modules and the scripts it
 * spawns in its folder.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchmarkModule {
  main(): Promise<void>;
}

const benchDir = dirname(fileURLToPath(import.meta.url));
const self = 'run.ts';
/** Shared helpers, not a benchmark. */
const LIB = 'lib';

/** Benchmark name → its entry file, relative to bench/. */
const entries = new Map(
  readdirSync(benchDir, { withFileTypes: true }).flatMap((entry): [string, string][] => {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && entry.name !== self) {
      return [[entry.name.slice(0, -'.ts'.length), entry.name]];
    }
    if (entry.isDirectory() && entry.name !== LIB && existsSync(join(benchDir, entry.name, 'index.ts'))) {
      return [[entry.name, `${entry.name}/index.ts`]];
    }
    return [];
  }),
);
const available = [...entries.keys()].sort();

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`Unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  console.error(`Available: ${available.length > 0 ? available.join(', ') : '(none)'}`);
  process.exit(1);
}

for (const name of requested.length > 0 ? requested : available) {
  const entry = entries.get(name)!;
  const module = (await import(pathToFileURL(join(benchDir, entry)).href)) as Partial<BenchmarkModule>;
  if (typeof module.main !== 'function') throw new Error(`bench/${entry} does not export main()`);
  console.log(`\n# ${name}\n`);
  await module.main();
}
