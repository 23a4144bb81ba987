import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Brain } from '../../src/brain/brain.ts';
import { claimWake, claimWakes, completeWake } from '../../src/brain/lease.ts';
import { newId } from '../../src/ids.ts';
import { WAKE_CHANNEL } from '../../src/session/wakes.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { listAll, newSession, types, userText } from './support.ts';

/**
 * Leases, fencing and recovery, with brains built by hand (the server runs none), so each test
 * decides which brain wakes when.
 */
for (const storage of ['pglite', 'postgres'] as const) {
  describe(`leases (${storage})`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    before(async () => {
      oma = await startTestOma({ storage });
    });
    after(() => oma?.dispose());

    function brain(name: string, steps: ScriptStep[], sandbox = new EchoSandboxProvider()) {
      const model = new ScriptedModel(steps);
      return { model, sandbox, brain: new Brain({ db: oma.db, log: oma.sessionLog, model, sandboxes: sandbox, owner: name, options: { leaseTtlMs: 60_000, retryBaseMs: 1 } }) };
    }

    async function waitingSession(text: string) {
      const session = await newSession(oma.client);
      await oma.client.beta.sessions.events.send(session.id, { events: [userText(text)] });
      return session.id;
    }

    async function expireLease(sessionId: string) {
      await oma.db.query("UPDATE session_wakes SET leased_until = now() - interval '1 second' WHERE session_id = $1", [sessionId]);
    }

    /** A brain that claims the session and dies at once, appending nothing. */
    async function dieHolding(sessionId: string) {
      assert.ok(await claimWake(oma.db, 'dies', 60_000, sessionId));
      await expireLease(sessionId);
    }

    it('[CRASH-1] brains that keep dying without progress: after the bounded attempts the turn ends with the reason; progress resets the count', async () => {
      const stuck = await waitingSession('hello');
      for (let n = 0; n < 3; n++) await dieHolding(stuck);
      const last = brain('survivor', [{ content: [{ type: 'text', text: 'never asked' }] }]);
      const ended = new Brain({ db: oma.db, log: oma.sessionLog, model: last.model, sandboxes: last.sandbox, owner: 'survivor', options: { leaseTtlMs: 60_000, maxWakeAttempts: 3 } });
      assert.equal(await ended.wake(stuck), true);
      assert.equal(last.model.requests.length, 0, 'the model is not called again');
      const events = (await listAll(oma.client, stuck)) as Record<string, any>[];
      const error = events.find((event) => event.type === 'session.error');
      assert.match(error?.error.message ?? '', /stopped 3 times in a row without making progress/);
      assert.equal(error?.error.retry_status.type, 'exhausted');
      assert.deepEqual(events.at(-1)?.stop_reason, { type: 'retries_exhausted' });
      assert.equal((await oma.client.beta.sessions.retrieve(stuck)).status, 'idle');

      const moving = await waitingSession('hello');
      for (let n = 0; n < 3; n++) {
        await dieHolding(moving);
        await oma.sessionLog.append(moving, [{ type: 'oma.span', payload: { name: 'progress' } }]); // each brain got somewhere
      }
      const lease = await claimWake(oma.db, 'next', 60_000, moving);
      assert.equal(lease?.attempts, 1, 'progress resets the count');
    });

    it('[CRASH-2] running with an expired lease and no take-over shows as rescheduling, and resumes when a brain takes it', async () => {
      const sessionId = await waitingSession('hello');
      assert.ok(await claimWake(oma.db, 'dies', 60_000, sessionId));
      await oma.db.query("UPDATE sessions SET status = 'running' WHERE id = $1", [sessionId]); // as its brain had set it
      assert.equal((await oma.client.beta.sessions.retrieve(sessionId)).status, 'running', 'held: running');
      await expireLease(sessionId);
      assert.equal((await oma.client.beta.sessions.retrieve(sessionId)).status, 'rescheduling');
      const listed = await listAllSessions({ statuses: ['rescheduling'] });
      assert.ok(listed.includes(sessionId));
      await assert.rejects(oma.client.beta.sessions.delete(sessionId), /is running/);
      const { brain: next } = brain('next', [{ content: [{ type: 'text', text: 'back' }] }]);
      assert.equal(await next.wake(sessionId), true);
      assert.equal((await oma.client.beta.sessions.retrieve(sessionId)).status, 'idle');
      assert.ok(!(await listAllSessions({ statuses: ['rescheduling'] })).includes(sessionId));
    });

    async function listAllSessions(query: { statuses: ('idle' | 'running' | 'rescheduling' | 'terminated')[] }) {
      const ids: string[] = [];
      for await (const session of oma.client.beta.sessions.list(query as never)) ids.push(session.id);
      return ids;
    }

    it('[BRAIN-22] concurrent wakes of one session: exactly one brain claims and runs it', async () => {
      const sessionId = await waitingSession('hello');
      const brains = [1, 2, 3, 4].map((n) => brain(`brain-${n}`, [{ content: [{ type: 'text', text: 'hi' }], delay_ms: 100 }]));
      const claimed = await Promise.all(brains.map(({ brain }) => brain.wake(sessionId)));
      assert.deepEqual(claimed.filter(Boolean).length, 1);
      assert.equal(brains.reduce((sum, { model }) => sum + model.requests.length, 0), 1);
      const events = await listAll(oma.client, sessionId);
      assert.equal(events.filter((event) => event.type === 'session.status_idle').length, 1);
      // Done: the wake is gone, so nobody claims it again.
      assert.equal(await brains[0]!.brain.wake(sessionId), false);
    });

    it('[BRAIN-23] [BRAIN-24] a brain whose lease was taken over cannot append; the new one reports the cut-off call', async () => {
      const sessionId = await waitingSession('run it');
      const first = brain('old', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'deploy', sleep_ms: 600 } }] }]);
      const running = first.brain.wake(sessionId);
      await first.sandbox.calls.length === 0 && (await waitUntil(() => first.sandbox.calls.length === 1));
      // The old brain is "paused" inside its tool call; its lease expires and another brain takes over.
      await expireLease(sessionId);
      const second = brain('new', [{ content: [{ type: 'text', text: 'I will check whether the deploy happened.' }] }]);
      assert.equal(await second.brain.wake(sessionId), true);
      await running; // the old brain wakes up late: its result is refused, and it stops quietly
      const events = await listAll(oma.client, sessionId);
      const results = events.filter((event) => event.type === 'agent.tool_result') as any[];
      assert.equal(results.length, 1, 'exactly one result for the call');
      assert.equal(results[0].is_error, true);
      assert.match(results[0].content[0].text, /cut off by a restart/);
      assert.equal(second.sandbox.calls.length, 0, 'a call with side effects is never silently re-run');
      assert.deepEqual(types(events).slice(-3), ['span.model_request_end', 'session.usage', 'session.status_idle']);
      // The model was told, in the tool result, that the call may or may not have run.
      const lastRequest = second.model.requests[0]!;
      assert.match(JSON.stringify(lastRequest.messages.at(-1)), /may or may not have run/);
    });

    it('[BRAIN-24] a read-only call cut off by a restart is simply run again', async () => {
      const sessionId = await waitingSession('read it');
      const first = brain('old', [{ content: [{ type: 'tool_use', name: 'read', input: { file_path: 'notes.md', sleep_ms: 600 } }] }]);
      const running = first.brain.wake(sessionId);
      await waitUntil(() => first.sandbox.calls.length === 1);
      await expireLease(sessionId);
      const second = brain('new', [{ content: [{ type: 'text', text: 'Read.' }] }]);
      await second.brain.wake(sessionId);
      await running;
      const events = await listAll(oma.client, sessionId);
      const results = events.filter((event) => event.type === 'agent.tool_result') as any[];
      assert.equal(results.length, 1);
      assert.equal(results[0].is_error, false);
      assert.deepEqual(second.sandbox.calls.map((call) => call.name), ['read']);
    });

    it('a brain with free slots claims several due wakes in one statement, oldest first, and each once', async () => {
      const ids = [];
      for (const text of ['a', 'b', 'c']) ids.push(await waitingSession(text));
      await oma.db.query("UPDATE session_wakes SET requested_at = now() - interval '1 hour' WHERE session_id = ANY($1)", [ids]);
      await oma.db.query("UPDATE session_wakes SET requested_at = requested_at + (array_position($1::text[], session_id) * interval '1 second') WHERE session_id = ANY($1)", [ids]);
      const first = await claimWakes(oma.db, 'many', 60_000, { limit: 2 });
      assert.deepEqual(first.map((lease) => lease.sessionId), ids.slice(0, 2));
      const [second, third] = await Promise.all([claimWakes(oma.db, 'many', 60_000, { limit: 5 }), claimWakes(oma.db, 'other', 60_000, { limit: 5 })]);
      assert.deepEqual([...second, ...third].map((lease) => lease.sessionId), ids.slice(2), 'the rest, to one claimant only');
      for (const lease of [...first, ...second, ...third]) assert.equal(await completeWake(oma.db, lease), 'done');
    });

    it('[CRASH-7] client input and its wake are one transaction: a brain that just finished cannot leave the input unseen, and a failed append requests nothing', async () => {
      const session = await newSession(oma.client);
      const [first, second] = [newId('sevt'), newId('sevt')];
      const wake = async () => (await oma.db.query<{ requests: string }>('SELECT requests FROM session_wakes WHERE session_id = $1', [session.id])).rows[0];
      const notified: string[] = [];
      const unlisten = storage === 'postgres' ? await oma.db.listen(WAKE_CHANNEL, (payload) => notified.push(payload)) : undefined;
      try {
        await oma.sessionLog.append(session.id, [{ id: first, type: 'user.message', payload: { content: [{ type: 'text', text: 'one' }] } }], { wake: true });
        assert.equal(Number((await wake())?.requests), 1, 'the append requested the wake');
        // A brain that finishes now (its claim saw the first request) must not remove the wake of input appended after its read.
        const lease = await claimWake(oma.db, 'finishing', 60_000, session.id);
        assert.ok(lease);
        await oma.sessionLog.append(session.id, [{ id: second, type: 'user.message', payload: { content: [{ type: 'text', text: 'two' }] } }], { wake: true });
        assert.equal(await completeWake(oma.db, lease), 'again', 'the brain runs once more');
        // The same event id again fails the append: the wake request is rolled back with it.
        await oma.db.query('DELETE FROM session_wakes WHERE session_id = $1', [session.id]);
        await assert.rejects(oma.sessionLog.append(session.id, [{ id: second, type: 'user.message', payload: {} }], { wake: true }));
        assert.equal(await wake(), undefined, 'no wake without the input');
        if (unlisten) {
          // Other sessions' wakes (other tests, other schemas: the channel is the server's) are on the channel too.
          const ours = () => notified.filter((payload) => payload === session.id);
          await waitUntil(() => ours().length >= 2);
          await new Promise((resolve) => setTimeout(resolve, 100)); // room for a third, were the failed append announced
          assert.equal(ours().length, 2, 'each waking append was announced on commit, the failed one not');
        }
      } finally {
        await unlisten?.();
      }
    });
  });
}

async function waitUntil(predicate: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
