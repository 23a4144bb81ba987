import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Brain } from '../../src/brain/brain.ts';
import { openSessionLog } from '../../src/session/index.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { ScriptedModel } from '../../src/testing/scripted-model.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { newSession, userText } from './support.ts';

/**
 * Found in review: a brain in a "worker" (its own SessionLog instance, so it hears the API's
 * appends only through NOTIFY, as `oma worker` does) and a user who interrupts and asks something
 * new just as a tool call finishes. No artificial delays: the interrupt is timed around the end of
 * the tool call, many times. When the brain reads the interrupt from the log before its interrupt
 * watch hears of it, the watch later aborts the *fresh* AbortController, which nothing ever replaces:
 * every later model call is aborted at once, and the brain loops forever appending
 * span.model_request_start/end pairs while holding the lease.
 */
describe('worker interrupt race (postgres)', { skip: skipPostgres }, () => {
  let oma: TestOma;
  before(async () => {
    oma = await startTestOma({ storage: 'postgres', config: { rateLimits: { createPerMinute: 0, readPerMinute: 0 } } });
  });
  after(() => oma?.dispose());

  it('[BRAIN-27] an interrupt + message sent as a tool call ends never makes the brain spin', { timeout: 240_000 }, async () => {
    const workerLog = await openSessionLog(oma.db);
    const spinning: string[] = [];
    try {
      for (let trial = 0; trial < 60 && spinning.length === 0; trial++) {
        const offset = -4.5 + Math.random() * 3;
        const model = new ScriptedModel([
          { content: [{ type: 'tool_use', name: 'bash', input: { command: 'build', sleep_ms: 100 } }] },
          { content: [{ type: 'text', text: 'a' }], delay_ms: 300 },
          { content: [{ type: 'text', text: 'b' }] },
          { content: [{ type: 'text', text: 'c' }] },
        ]);
        const sandbox = new EchoSandboxProvider();
        const brain = new Brain({ db: oma.db, log: workerLog, model, sandboxes: sandbox, owner: 'worker', options: { leaseTtlMs: 60_000, retryBaseMs: 1 } });
        const session = await newSession(oma.client);
        await oma.client.beta.sessions.events.send(session.id, { events: [userText('build it')] });
        const shutdown = new AbortController();
        const running = brain.wake(session.id, { signal: shutdown.signal });
        while (sandbox.calls.length === 0) await sleep(1);
        const until = performance.now() + 100 + offset;
        while (performance.now() < until) await new Promise((resolve) => setImmediate(resolve));
        await oma.client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }, userText('new question')] });
        await Promise.race([running, sleep(2_000)]);
        shutdown.abort();
        await running;
        // At most: the tool response, the new question's answer, and one retry after a real abort.
        if (model.requests.length > 3) spinning.push(`trial ${trial} (offset ${offset.toFixed(2)} ms): ${model.requests.length} model requests in 2 s`);
      }
    } finally {
      await workerLog.close();
    }
    assert.deepEqual(spinning, []);
  });
});
