import assert from 'node:assert/strict';
import { isOmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { StoredEvent } from './interface.ts';

/** Small helpers of the SessionLog conformance suite. */

export const session = () => newId('sesn');
export const text = (i: number) => ({ type: 'user.message', payload: { content: [{ type: 'text', text: `m${i}` }] } });

export async function take(iterable: AsyncIterable<StoredEvent>, count: number): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  if (count === 0) return out;
  for await (const event of iterable) {
    out.push(event);
    if (out.length === count) break;
  }
  return out;
}

export async function rejectsWith(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isOmaError(error), `expected an OmaError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

export const seqs = (events: StoredEvent[]) => events.map((event) => event.seq);
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
