import assert from 'node:assert/strict';
import type { SessionHarnessContext } from './conformance.ts';
import { range, seqs, session, take, text } from './conformance-helpers.ts';
import type { StoredEvent } from './interface.ts';

/** The subscription half of the SessionLog conformance suite: live delivery with no gap and no duplicate. */
export function subscriptionTests({ test, log, harness }: SessionHarnessContext) {
    test('subscribe replays, then follows live appends', async () => {
      const id = session();
      await log().append(id, [text(1), text(2), text(3)]);
      const controller = new AbortController();
      const received: StoredEvent[] = [];
      const done = (async () => {
        for await (const event of log().subscribe(id, { signal: controller.signal })) {
          received.push(event);
          if (received.length === 8) controller.abort();
        }
      })();
      await log().append(id, [text(4)]);
      await log().append(id, [text(5), text(6)]);
      await log().append(id, [text(7), text(8)]);
      await done;
      assert.deepEqual(seqs(received), range(1, 8));
      assert.deepEqual(received, await log().read(id), 'live events equal what the log stores');
    });

    test('a subscriber that leaves at p and resubscribes after p gets exactly the rest', async () => {
      const id = session();
      await log().append(id, Array.from({ length: 10 }, (_, i) => text(i + 1)));
      const firstPart = await take(log().subscribe(id), 5);
      assert.deepEqual(seqs(firstPart), range(1, 5));
      await log().append(id, Array.from({ length: 5 }, (_, i) => text(i + 11)));
      const resumed = log().subscribe(id, { afterSeq: firstPart.at(-1)!.seq });
      const rest = take(resumed, 13);
      await log().append(id, [text(16)]);
      await log().append(id, [text(17), text(18)]);
      assert.deepEqual(seqs(await rest), range(6, 18));
    });

    test('a live subscriber sees concurrent writers with no gap and no duplicate', async () => {
      const id = session();
      const total = 200;
      const received = take(log().subscribe(id), total);
      await Promise.all(
        Array.from({ length: 5 }, async (_, writer) => {
          for (let i = 0; i < total / 5; i += 2) await log().append(id, [text(writer * 1000 + i), text(writer * 1000 + i + 1)]);
        }),
      );
      const events = await received;
      assert.deepEqual(seqs(events), range(1, total));
      assert.deepEqual(
        events.map((event) => event.id),
        (await log().read(id)).map((event) => event.id),
      );
    });

    test('a subscriber far behind the appends catches up from the log', async () => {
      const id = session();
      const iterator = log().subscribe(id)[Symbol.asyncIterator]();
      const first = iterator.next();
      await log().append(id, [text(0)]);
      assert.equal((await first).value.seq, 1);
      // While the consumer is not reading, far more is appended than a subscriber buffers.
      await log().append(id, Array.from({ length: 10_001 }, (_, i) => ({ type: 'bulk', payload: { i } })));
      await log().append(id, [text(2)]);
      const got: number[] = [];
      while (got.length < 10_002) got.push((await iterator.next()).value.seq);
      await iterator.return?.();
      assert.deepEqual(got, range(2, 10_003));
    });

    test('aborting the signal ends the iteration; close ends every subscription', async () => {
      const id = session();
      await log().append(id, [text(1)]);
      const controller = new AbortController();
      const seen: number[] = [];
      const ended = (async () => {
        for await (const event of log().subscribe(id, { signal: controller.signal })) seen.push(event.seq);
        return 'ended';
      })();
      await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort();
      assert.equal(await ended, 'ended');
      assert.deepEqual(seen, [1]);
      const aborted = new AbortController();
      aborted.abort();
      assert.deepEqual(await take(log().subscribe(id, { signal: aborted.signal }), 5), [], 'an aborted signal yields nothing');

      const other = await harness.open();
      const otherId = session();
      await other.append(otherId, [text(1)]);
      const stillOpen = (async () => {
        const got: number[] = [];
        for await (const event of other.subscribe(otherId)) got.push(event.seq);
        return got;
      })();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await other.close();
      assert.deepEqual(await stillOpen, [1]);
    });

    test('a subscriber on another instance sees appends made through this one', async (t) => {
      if (!harness.openPeer) return t.skip('single-process implementation');
      const peer = await harness.openPeer();
      try {
        const id = session();
        await log().append(id, [text(1)]);
        const received = take(peer.subscribe(id), 6);
        for (let i = 2; i <= 6; i++) await log().append(id, [text(i)]);
        assert.deepEqual(seqs(await received), range(1, 6));
      } finally {
        await peer.close();
      }
    });
}
