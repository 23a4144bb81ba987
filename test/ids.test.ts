import assert from 'node:assert/strict';
import { it } from 'node:test';
import { newId, newSecret } from '../src/ids.ts';

it('ids are prefixed, fixed-width base58, unique and strictly increasing within a process', () => {
  const ids = Array.from({ length: 5_000 }, () => newId('sevt'));
  for (const id of ids) assert.match(id, /^sevt_[1-9A-HJ-NP-Za-km-z]{22}$/);
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
});

it('ids sort by their creation time, even when the clock steps back', () => {
  const early = newId('sesn', Date.parse('2026-01-01T00:00:00Z'));
  const late = newId('sesn', Date.parse('2026-06-01T00:00:00Z'));
  const stepBack = newId('sesn', Date.parse('2026-03-01T00:00:00Z'));
  assert.ok(early < late && late < stepBack);
});

it('secrets carry 256 random bits', () => {
  const secrets = new Set(Array.from({ length: 100 }, () => newSecret('sk-oma-')));
  assert.equal(secrets.size, 100);
  for (const secret of secrets) assert.ok(secret.length >= 7 + 40);
});
