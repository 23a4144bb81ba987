import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { isOmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import { range, rejectsWith, seqs, session, take, text } from './conformance-helpers.ts';
import { subscriptionTests } from './conformance-subscribe.ts';
import type { SessionLog } from './interface.ts';

/**
 * The SessionLog contract as tests, run against every implementation (memory, PGlite, PostgreSQL).
 * Each implementation's test file only says how to open one.
 */
export interface SessionLogHarness {
  name: string;
  /** Set up storage once for the suite. */
  setup?(): Promise<void>;
  /** A log on the suite's storage. Tests use fresh session ids, so they share storage. */
  open(): Promise<SessionLog>;
  /**
   * Close `log` and everything under it, then open a new instance on the same storage, as a
   * restarted process would. Without it the durability test is skipped.
   */
  reopen?(log: SessionLog): Promise<SessionLog>;
  /**
   * A second instance on the same storage, as another process would have (cross-process delivery).
   * Give it no safety poll, so the test proves notifications alone deliver.
   */
  openPeer?(): Promise<SessionLog>;
  /** Raw SQL on the storage, to check what is really stored. */
  rawQuery?(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  teardown?(): Promise<void>;
  /** Tests that do not apply, each with the reason. */
  skip?: { test: string; reason: string }[];
}

/** What the two halves of the suite share. */
export interface SessionHarnessContext {
  test: (name: string, fn: (t: TestContext) => Promise<void>) => void;
  /** The suite's current log (replaced when the durability test reopens it). */
  log: () => SessionLog;
  harness: SessionLogHarness;
}

export function describeSessionLogConformance(harness: SessionLogHarness) {
  const skipped = new Map((harness.skip ?? []).map((entry) => [entry.test, entry.reason]));
  const test = (name: string, fn: (t: TestContext) => Promise<void>) =>
    it(name, { skip: skipped.get(name) ?? false, timeout: 60_000 }, fn);

  describe(`SessionLog conformance: ${harness.name}`, () => {
    let log: SessionLog;
    before(async () => {
      await harness.setup?.();
      log = await harness.open();
    });
    after(async () => {
      await log?.close();
      await harness.teardown?.();
    });

    test('seq starts at 1 and is gapless across single and batch appends', async () => {
      const id = session();
      assert.deepEqual(await log.read(id), []);
      assert.equal(await log.append(id, [text(1)]), 1);
      assert.equal(await log.append(id, [text(2), text(3), text(4)]), 4);
      assert.equal(await log.append(id, [text(5)]), 5);
      const events = await log.read(id);
      assert.deepEqual(seqs(events), [1, 2, 3, 4, 5]);
      assert.deepEqual(
        events.map((event) => (event.payload.content as { text: string }[])[0]!.text),
        ['m1', 'm2', 'm3', 'm4', 'm5'],
      );
      for (const event of events) {
        assert.match(event.id, /^sevt_[1-9A-HJ-NP-Za-km-z]{22}$/);
        assert.equal(event.sessionId, id);
        assert.equal(event.type, 'user.message');
        assert.ok(event.createdAt instanceof Date && !Number.isNaN(event.createdAt.getTime()));
      }
      assert.equal(new Set(events.map((event) => event.id)).size, 5, 'ids are unique');
      for (let i = 1; i < events.length; i++) {
        assert.ok(events[i]!.id > events[i - 1]!.id, 'ids are time-ordered along seq');
        assert.ok(events[i]!.createdAt >= events[i - 1]!.createdAt, 'createdAt never goes backwards');
      }
      if (harness.rawQuery) {
        const [row] = await harness.rawQuery('SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM events WHERE session_id = $1', [id]);
        assert.deepEqual(row, { n: 5, lo: 1, hi: 5 });
      }
    });

    test('a caller-assigned id is kept; a repeated id fails the whole append', async () => {
      const id = session();
      const eventId = newId('sevt');
      await log.append(id, [{ id: eventId, type: 'user.message', payload: {} }]);
      assert.equal((await log.read(id))[0]!.id, eventId);
      await rejectsWith(log.append(id, [text(2), { id: eventId, type: 'user.message' }]), 'conflict');
      await rejectsWith(log.append(session(), [{ id: eventId, type: 'x' }]), 'conflict');
      assert.deepEqual(seqs(await log.read(id)), [1], 'nothing of the failed batch was written');
      assert.equal(await log.append(id, [text(3)]), 2, 'seq continues without a gap after a failed append');
    });

    test('bad input is rejected and writes nothing', async () => {
      const id = session();
      await rejectsWith(log.append(id, []), 'invalid_request');
      await rejectsWith(log.append(id, [{ type: '' }]), 'invalid_request');
      await rejectsWith(log.append(id, [{ type: 'x', id: 'not-an-event-id' }]), 'invalid_request');
      await rejectsWith(log.append(id, [{ type: 'x' }], { expectedSeq: -1 }), 'invalid_request');
      await rejectsWith(log.read(id, { limit: 1.5 }), 'invalid_request');
      assert.deepEqual(await log.read(id), []);
    });

    test('20 concurrent appends at one expectedSeq: exactly one wins', async () => {
      const id = session();
      await log.append(id, [text(0), text(1)]);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => log.append(id, [text(100 + i)], { expectedSeq: 2 })));
      const won = results.filter((result) => result.status === 'fulfilled');
      assert.equal(won.length, 1);
      assert.equal((won[0] as PromiseFulfilledResult<number>).value, 3);
      for (const result of results) {
        if (result.status === 'rejected') {
          assert.ok(isOmaError(result.reason, 'stale_seq'), String(result.reason));
          assert.equal(result.reason.details?.last_seq, 3);
        }
      }
      assert.deepEqual(seqs(await log.read(id)), [1, 2, 3]);
    });

    test('20 concurrent appends at expectedSeq 0 on a new session: exactly one wins', async () => {
      const id = session();
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => log.append(id, [text(i)], { expectedSeq: 0 })));
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      assert.deepEqual(seqs(await log.read(id)), [1]);
    });

    test('concurrent unconditional appends get distinct gapless seqs', async () => {
      const id = session();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(id, i % 4 === 0 ? [text(i), text(i)] : [text(i)])));
      const events = await log.read(id);
      assert.deepEqual(seqs(events), range(1, 50));
      assert.equal(new Set(results).size, 40, 'every append got its own last seq');
      assert.equal(Math.max(...results), 50);
    });

    test('concurrent appends to many sessions each get their own outcome', async () => {
      const ids = Array.from({ length: 30 }, session);
      await Promise.all(ids.slice(0, 20).map((id) => log.append(id, [text(0)], { fence: 2 })));
      const taken = newId('sevt');
      await log.append(session(), [{ id: taken, type: 'x' }]);
      // Sessions 0-19 exist at seq 1 (fence 2), 20-29 are new. Every fourth append is meant to fail.
      const outcomes = await Promise.allSettled(
        ids.map((id, i) => {
          if (i === 3) return log.append(id, [text(1)], { expectedSeq: 0 }); // stale seq
          if (i === 7) return log.append(id, [text(1)], { fence: 1 }); // stale fence
          if (i === 11) return log.append(id, [text(1), { id: taken, type: 'x' }]); // repeated id
          if (i === 23) return log.append(id, [text(1)], { expectedSeq: 5 }); // new session is at 0
          return log.append(id, [text(1), text(2)], i < 20 ? { expectedSeq: 1, fence: 2 } : { expectedSeq: 0 });
        }),
      );
      const codes = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as { code: string }).code));
      assert.deepEqual(
        codes,
        ids.map((_, i) => ({ 3: 'stale_seq', 7: 'stale_fence', 11: 'conflict', 23: 'stale_seq' })[i] ?? (i < 20 ? 3 : 2)),
      );
      for (const [i, id] of ids.entries()) {
        const expected = [3, 7, 11].includes(i) ? [1] : i === 23 ? [] : i < 20 ? [1, 2, 3] : [1, 2];
        assert.deepEqual(seqs(await log.read(id)), expected, `session ${i}`);
      }
    });

    test('a stale fence is rejected and a newer one locks the old writer out', async () => {
      const id = session();
      assert.equal(await log.append(id, [text(1)], { fence: 1 }), 1);
      assert.equal(await log.append(id, [text(2)], { fence: 2 }), 2, 'a newer generation takes over');
      await rejectsWith(log.append(id, [text(3)], { fence: 1 }), 'stale_fence');
      await assert.rejects(log.append(id, [text(3)], { fence: 1, expectedSeq: 2 }), (error) => {
        assert.ok(isOmaError(error, 'stale_fence'), 'a stale fence wins over a matching seq');
        assert.equal(error.details?.fence, 2);
        return true;
      });
      assert.equal(await log.append(id, [text(4)], { fence: 2, expectedSeq: 2 }), 3);
      assert.equal(await log.append(id, [text(5)]), 4, 'unfenced appends (client events) are not fenced out');
      assert.deepEqual(seqs(await log.read(id)), [1, 2, 3, 4]);
      if (harness.rawQuery) {
        const [row] = await harness.rawQuery('SELECT last_seq::int AS last_seq, fence::int AS fence FROM session_logs WHERE session_id = $1', [id]);
        assert.deepEqual(row, { last_seq: 4, fence: 2 });
      }
    });

    test('concurrent writers with old and new fences: the old one never lands after the new one', async () => {
      const id = session();
      await log.append(id, [text(0)], { fence: 5 });
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 10 }, () => log.append(id, [{ type: 'old' }], { fence: 5 })),
        log.append(id, [{ type: 'new' }], { fence: 6 }),
        ...Array.from({ length: 10 }, () => log.append(id, [{ type: 'old' }], { fence: 5 })),
      ]);
      const events = await log.read(id);
      const firstNew = events.findIndex((event) => event.type === 'new');
      assert.ok(firstNew > 0);
      assert.ok(events.slice(firstNew).every((event) => event.type !== 'old'), 'no write of generation 5 after generation 6');
      const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
      assert.ok(rejected.every((outcome) => isOmaError((outcome as PromiseRejectedResult).reason, 'stale_fence')));
      assert.equal(events.length, 1 + outcomes.length - rejected.length);
    });

    test('a closing append is the last: nothing lands after it, even racing it', async () => {
      const id = session();
      await log.append(id, [text(1)]);
      const racing = Array.from({ length: 20 }, (_, i) => log.append(id, [text(100 + i)]));
      const closing = log.append(id, [{ type: 'session.status_terminated' }], { close: true });
      const more = Array.from({ length: 20 }, (_, i) => log.append(id, [text(200 + i)]));
      const outcomes = await Promise.allSettled([...racing, closing, ...more]);
      const events = await log.read(id);
      assert.equal(events.at(-1)!.type, 'session.status_terminated', 'the terminal event is last');
      assert.equal((outcomes[20] as PromiseFulfilledResult<number>).value, events.length);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          assert.ok(isOmaError(outcome.reason, 'conflict'), String(outcome.reason));
          assert.equal(outcome.reason.details?.error_code, 'session_log_closed');
        }
      }
      assert.equal(events.length, 1 + outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 'every fulfilled append is in the log');
      await rejectsWith(log.append(id, [text(3)]), 'conflict');
      await rejectsWith(log.append(id, [text(3)], { close: true }), 'conflict');
      assert.equal((await log.read(id)).length, events.length);
      const other = session();
      assert.equal(await log.append(other, [text(1)], { close: true, expectedSeq: 0 }), 1, 'a log may be closed by its first append');
      await rejectsWith(log.append(other, [text(2)], { fence: 99 }), 'conflict');
    });

    test('slices: afterSeq, beforeSeq, limit and descending order', async () => {
      const id = session();
      await log.append(id, Array.from({ length: 10 }, (_, i) => text(i + 1)));
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 7 })), [8, 9, 10]);
      assert.deepEqual(seqs(await log.read(id, { beforeSeq: 4 })), [1, 2, 3]);
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 2, beforeSeq: 6 })), [3, 4, 5]);
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 2, limit: 2 })), [3, 4]);
      assert.deepEqual(seqs(await log.read(id, { order: 'desc', limit: 3 })), [10, 9, 8]);
      assert.deepEqual(seqs(await log.read(id, { order: 'desc', beforeSeq: 5, limit: 2 })), [4, 3]);
      assert.deepEqual(seqs(await log.read(id, { order: 'desc', afterSeq: 8 })), [10, 9]);
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 10 })), []);
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 5, beforeSeq: 5 })), []);
      assert.deepEqual(seqs(await log.read(id, { limit: 0 })), []);
      assert.deepEqual(seqs(await log.read(id, { afterSeq: 50 })), []);
    });

    test('a 1 MB payload round-trips exactly', async () => {
      const id = session();
      const big = 'x'.repeat(1024 * 1024);
      const payload = { content: [{ type: 'text', text: big }], nested: { unicode: 'é😀\u2028', n: 1.5, list: [1, null, true] } };
      await log.append(id, [{ type: 'user.message', payload }]);
      const [event] = await log.read(id);
      assert.deepEqual(event!.payload, payload);
    });

    test('the log does not alias caller objects', async () => {
      const id = session();
      const payload = { content: [{ type: 'text', text: 'before' }] };
      await log.append(id, [{ type: 'user.message', payload }]);
      payload.content[0]!.text = 'after';
      const [first] = await log.read(id);
      (first!.payload.content as { text: string }[])[0]!.text = 'mutated by a reader';
      assert.equal(((await log.read(id))[0]!.payload.content as { text: string }[])[0]!.text, 'before');
    });

    test('sessions are isolated', async () => {
      const a = session();
      const b = session();
      await log.append(a, [text(1), text(2), text(3)]);
      assert.equal(await log.append(b, [text(1)], { expectedSeq: 0 }), 1, 'b starts at seq 1 whatever a holds');
      await rejectsWith(log.append(b, [text(2)], { expectedSeq: 3 }), 'stale_seq');
      await log.append(a, [text(4)], { fence: 9 });
      assert.equal(await log.append(b, [text(2)], { fence: 1 }), 2, "a's fence does not apply to b");
      assert.deepEqual(seqs(await log.read(a)), [1, 2, 3, 4]);
      assert.deepEqual(seqs(await log.read(b)), [1, 2]);
      assert.ok((await log.read(b)).every((event) => event.sessionId === b));
      const subscription = log.subscribe(b, { afterSeq: 2 });
      const next = take(subscription, 1);
      await log.append(a, [{ type: 'not-for-b' }]);
      await log.append(b, [{ type: 'for-b' }]);
      assert.deepEqual((await next).map((event) => event.type), ['for-b']);
    });

    subscriptionTests({ test, log: () => log, harness });

    test('durable across reopen', async (t) => {
      if (!harness.reopen) return t.skip('no reopen for this implementation');
      const id = session();
      await log.append(id, [text(1), text(2)], { fence: 3 });
      await log.append(id, [{ type: 'big', payload: { blob: 'y'.repeat(200_000) } }]);
      const before = await log.read(id);
      log = await harness.reopen(log);
      assert.deepEqual(await log.read(id), before);
      await rejectsWith(log.append(id, [text(4)], { fence: 2 }), 'stale_fence');
      await rejectsWith(log.append(id, [text(4)], { expectedSeq: 2 }), 'stale_seq');
      assert.equal(await log.append(id, [text(4)], { fence: 3, expectedSeq: 3 }), 4);
      const closed = session();
      await log.append(closed, [text(1)], { close: true });
      log = await harness.reopen(log);
      await rejectsWith(log.append(closed, [text(2)]), 'conflict');
    });

  });
}
