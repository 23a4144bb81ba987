import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freshPostgres, skipPostgres } from '../../src/testing/databases.ts';
import { startFakeModelServer } from '../../src/testing/fake-model-server.ts';
import { startOmaProcess, startOmaWorker } from '../../src/testing/processes.ts';
import { ScriptedModel } from '../../src/testing/scripted-model.ts';

const API_KEY = 'sk-oma-wake-test-admin-0123456789';
const POLL_MS = 60_000;
const WAKES = 8;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000) {
  for (const deadline = Date.now() + ms; !(await check()); await sleep(5)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('waking a worker in another process', { skip: skipPostgres }, () => {
  it('[CRASH-4] a message sent to oma serve (no brains) reaches an idle oma worker through a notification, long before its poll', { timeout: 120_000 }, async (t) => {
    const arrivals: number[] = [];
    const model = await startFakeModelServer({
      model: new ScriptedModel(() => {
        arrivals.push(Date.now());
        return { content: [{ type: 'text', text: 'Awake.' }] };
      }),
    });
    cleanups.push(() => model.close());
    const database = freshPostgres({ prefix: 'oma_wake' });
    cleanups.push(() => database.drop());
    const dir = mkdtempSync(join(tmpdir(), 'oma-wake-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, OMA_DB_SCHEMA: database.schema, OMA_DATA_DIR: dir, OMA_API_KEY: API_KEY, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'fake' };
    const api = await startOmaProcess({ ...env, OMA_BRAINS: '0' });
    cleanups.push(() => void api.child.kill('SIGKILL'));
    // The worker looks for wakes on its own only once a minute: anything quicker is the notification.
    const worker = await startOmaWorker({ ...env, OMA_BRAINS: '2', OMA_WAKE_POLL_MS: String(POLL_MS) });
    cleanups.push(() => void worker.child.kill('SIGKILL'));
    await sleep(300); // its first look (at start) is over: it is idle, waiting

    const client = new Anthropic({ baseURL: api.url, apiKey: API_KEY, maxRetries: 0 });
    const agent = await client.beta.agents.create({ name: 'wake', model: 'claude-sonnet-4-6' });
    const environment = await client.beta.environments.create({ name: 'wake' });
    const latencies: number[] = [];
    for (let wake = 0; wake < WAKES; wake++) {
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      const sent = Date.now();
      await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: `wake ${wake}` }] }] });
      await waitFor(() => arrivals.length > wake, `the model call of wake ${wake} (a worker woken only by its ${POLL_MS} ms poll would take that long)`);
      latencies.push(arrivals[wake]! - sent);
      await waitFor(async () => (await client.beta.sessions.retrieve(session.id)).status === 'idle', `session ${wake} idle`);
      await sleep(50); // the worker is idle again
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    t.diagnostic(`send → model request in the worker over ${WAKES} wakes: p50 ${sorted[Math.floor(WAKES / 2)]} ms, max ${sorted.at(-1)} ms (poll ${POLL_MS} ms)`);
    for (const latency of latencies) assert.ok(latency < 5_000, `woken in ${latency} ms: by the notification, not the ${POLL_MS} ms poll`);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, 'an idle worker drains and exits 0 on SIGTERM');
  });
});
