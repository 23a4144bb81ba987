import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, waitFor, lastIdle, listAll, newSession, types, userText, waitForIdle } from './support.ts';

/** Found in review: retries and backoff. */

describeBrain(
  'retry budget per turn',
  (harness) => {
    it('[BRAIN-16] a turn interrupted during backoff does not eat into the next turn\'s retry budget', async () => {
      const { client, scripts } = harness();
      const failure = { error: { status: 500, type: 'api_error', message: 'boom' } };
      scripts.add('budget', [failure, failure, { content: [{ type: 'text', text: 'fine' }] }]);
      const session = await newSession(client);
      await client.beta.sessions.events.send(session.id, { events: [userText('[budget] one')] });
      // First turn: one failure, retrying; interrupt during the (long) backoff and ask again at once.
      await waitFor(client, session.id, (events) => events.some((event) => event.type === 'session.status_rescheduled'));
      await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }, userText('two')] });
      const events = await waitForIdle(client, session.id, { count: 2, timeoutMs: 15_000 });
      const secondTurn = events.slice(events.findIndex((event) => event.type === 'session.status_idle') + 1);
      const errors = secondTurn.filter((event) => event.type === 'session.error') as any[];
      // maxModelAttempts = 2: the new turn's first failure must be retried, not exhausted at once.
      assert.deepEqual(
        errors.map((error) => error.error.retry_status.type),
        ['retrying'],
        `second turn: ${types(secondTurn).join(', ')}`,
      );
      assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    });
  },
  { config: { brain: { maxModelAttempts: 2, retryBaseMs: 3_000, retryMaxMs: 3_000 } } },
);

describeBrain('retry-after', (harness) => {
  it('[BRAIN-15] a 429 with retry-after is not retried before retry-after has passed', async () => {
    const { client, scripts } = harness();
    const times: number[] = [];
    scripts.add('retry-after', [
      () => (times.push(Date.now()), { error: { status: 429, type: 'rate_limit_error', message: 'slow down', retry_after_s: 1 } }),
      () => (times.push(Date.now()), { content: [{ type: 'text', text: 'ok' }] }),
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[retry-after] hi')] });
    const events = await waitForIdle(client, session.id);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal(times.length, 2);
    assert.ok(times[1]! - times[0]! >= 1_000, `retried ${times[1]! - times[0]!} ms after a 429 that said retry-after: 1`);
  });
});
