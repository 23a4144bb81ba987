import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Brain } from '../../src/brain/brain.ts';
import type { SessionLog, SubscribeOptions } from '../../src/session/interface.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { lastIdle, listAll, newSession, types, userText } from './support.ts';

/**
 * Found in review, with hand-built brains. `slowNotify` stands in for a log whose subscription
 * hears of appends late (another process, coalesced NOTIFY, a busy event loop): every event is
 * delivered `delayMs` after it was appended.
 */
function slowNotify(inner: SessionLog, delayMs: number): SessionLog {
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'subscribe') {
        return async function* (sessionId: string, options?: SubscribeOptions) {
          for await (const event of target.subscribe(sessionId, options)) {
            const wait = event.createdAt.getTime() + delayMs - Date.now();
            if (wait > 0) await sleep(wait);
            yield event;
          }
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`brain (${storage})`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    before(async () => {
      oma = await startTestOma({ storage });
    });
    after(() => oma?.dispose());

    // On PGlite the resulting loop never yields to timers (every await settles in microtasks), so the
    // whole process hangs and not even this test's own timeout fires: run it on PostgreSQL only.
    it('[BRAIN-27] an interrupt the brain already applied (read from the log) does not later abort the next turn', async () => {
      const steps: ScriptStep[] = [
        { content: [{ type: 'tool_use', name: 'bash', input: { command: 'build', sleep_ms: 300 } }] },
        { content: [{ type: 'text', text: 'answer to the new question' }], delay_ms: 1_000 },
        { content: [{ type: 'text', text: 'a second answer' }] },
      ];
      const model = new ScriptedModel(steps);
      const sandbox = new EchoSandboxProvider();
      const brain = new Brain({ db: oma.db, log: slowNotify(oma.sessionLog, 600), model, sandboxes: sandbox, owner: 'slow', options: { leaseTtlMs: 60_000, retryBaseMs: 1 } });
      const session = await newSession(oma.client);
      await oma.client.beta.sessions.events.send(session.id, { events: [userText('build it')] });
      const shutdown = new AbortController();
      const running = brain.wake(session.id, { signal: shutdown.signal });
      while (sandbox.calls.length === 0) await sleep(5);
      // The user changes their mind while the tool runs: interrupt, and a new question.
      await oma.client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }, userText('new question')] });
      const finished = await Promise.race([running.then(() => true), sleep(5_000).then(() => false)]);
      shutdown.abort(); // whatever it is doing, stop it
      await running;
      const events = await listAll(oma.client, session.id);
      const starts = events.filter((event) => event.type === 'span.model_request_start').length;
      assert.ok(finished, `the brain never finished the wake: ${starts} model requests started, ${model.requests.length} made; last events: ${types(events).slice(-6).join(', ')}`);
      const ends = events.filter((event) => event.type === 'span.model_request_end') as any[];
      assert.deepEqual(
        ends.map((end) => end.is_error),
        [false, false],
        `the new turn's model call was aborted by the stale interrupt: ${types(events).join(', ')}`,
      );
      assert.equal(model.requests.length, 2);
      assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    });

    it('[BRAIN-28] oma.stop() while a turn runs returns within the grace period', async () => {
      const model = new ScriptedModel([{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'long', sleep_ms: 30_000 } }] }]);
      const own = await startTestOma({ storage, model, sandboxes: new EchoSandboxProvider() });
      try {
        const session = await newSession(own.client);
        await own.client.beta.sessions.events.send(session.id, { events: [userText('go')] });
        await model.waitForRequests(1);
        await sleep(100);
        const stoppedAt = Date.now();
        await own.stop(500);
        assert.ok(Date.now() - stoppedAt < 3_000, `stop took ${Date.now() - stoppedAt} ms`);
      } finally {
        await own.dispose();
      }
    });

    it('[BRAIN-28] shutdown during a turn: stop() returns promptly and a restarted brain finishes the turn', async () => {
      const model = new ScriptedModel([
        { content: [{ type: 'tool_use', name: 'bash', input: { command: 'long', sleep_ms: 5_000 } }] },
        { content: [{ type: 'text', text: 'done' }] },
      ]);
      const sandbox = new EchoSandboxProvider();
      const brain = new Brain({ db: oma.db, log: oma.sessionLog, model, sandboxes: sandbox, owner: 'stopper', options: { leaseTtlMs: 60_000 } });
      const session = await newSession(oma.client);
      await oma.client.beta.sessions.events.send(session.id, { events: [userText('go')] });
      const shutdown = new AbortController();
      const running = brain.wake(session.id, { signal: shutdown.signal });
      while (sandbox.calls.length === 0) await sleep(5);
      const stoppedAt = Date.now();
      shutdown.abort();
      await running;
      assert.ok(Date.now() - stoppedAt < 1_000, 'the brain stops promptly');
      const before = await listAll(oma.client, session.id);
      // The wake was handed back: another brain picks it up and finishes.
      const next = new Brain({ db: oma.db, log: oma.sessionLog, model, sandboxes: sandbox, owner: 'next', options: { leaseTtlMs: 60_000 } });
      assert.equal(await next.wake(session.id), true, 'the wake was handed back');
      const events = await listAll(oma.client, session.id);
      assert.equal(lastIdle(events)?.stop_reason.type, 'end_turn', types(events).join(', '));
      assert.ok(before.length > 0);
    });
  });
}
