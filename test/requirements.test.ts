import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { requirements } from './requirements/index.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? testFiles(join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? [join(dir, entry.name)] : [],
  );
}

it('every requirement is cited by at least one test, and every cited id exists', () => {
  const sources = testFiles(new URL('.', import.meta.url).pathname).map((file) => readFileSync(file, 'utf8'));
  const cited = new Set(sources.flatMap((source) => [...source.matchAll(/\[([A-Z]+-\d+)\]/g)].map((match) => match[1]!)));
  const untested = Object.keys(requirements).filter((id) => !cited.has(id));
  assert.deepEqual(untested, [], `requirements without a test: ${untested.map((id) => `${id} (${requirements[id]})`).join('; ')}`);
  const unknown = [...cited].filter((id) => !(id in requirements));
  assert.deepEqual(unknown, [], 'tests cite ids that are not in test/requirements/');
});
