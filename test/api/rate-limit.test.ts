import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { createSession } from '../../src/testing/fixtures.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

describe('request limits', () => {
  let oma: TestOma;
  before(async () => {
    // 60 creates and 120 reads per minute: one create a second, so a refill is quick to observe.
    oma = await startTestOma({ config: { rateLimits: { createPerMinute: 60, readPerMinute: 120 } } });
  });
  after(() => oma?.dispose());

  const clientFor = async (workspace: string, maxRetries = 0) =>
    new Anthropic({ baseURL: oma.url, apiKey: (await createKey(oma.db, { workspace })).key, maxRetries });

  it('[HTTP-15] over the create limit: 429 rate_limit_error with retry-after; reads have their own budget; the SDK waits and retries', async () => {
    const client = await clientFor('limited');
    let created = 0;
    const started = Date.now();
    let limited: InstanceType<typeof Anthropic.RateLimitError> | undefined;
    for (let i = 0; i < 70 && !limited; i++) {
      try {
        await client.beta.environments.create({ name: `e${i}` });
        created++;
      } catch (error) {
        if (!(error instanceof Anthropic.RateLimitError)) throw error;
        limited = error;
      }
    }
    assert.ok(limited, 'the 61st create in a minute is refused');
    // The bucket holds 60 and refills one a second while the loop runs.
    const refilled = Math.ceil((Date.now() - started) / 1000);
    assert.ok(created >= 60 && created <= 60 + refilled, `60 creates, plus ${refilled} refilled, went through (${created})`);
    assert.equal(limited.type, 'rate_limit_error');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(Number(limited.headers.get('retry-after-ms')) > 0 && Number(limited.headers.get('retry-after-ms')) <= 1_000);
    assert.equal((await client.beta.environments.list({ limit: 100 })).data.length, created, 'reads are not limited by creates, and the refused create wrote nothing');
    const patient = new Anthropic({ baseURL: oma.url, apiKey: client.apiKey!, maxRetries: 2 });
    const waited = Date.now();
    await patient.beta.environments.create({ name: 'after waiting' });
    assert.ok(Date.now() - waited < 5_000, 'the SDK retried after retry-after-ms');
  });

  it('[HTTP-16] limits are per workspace and can be changed or turned off for one', async () => {
    const busy = await clientFor('busy');
    const quiet = await clientFor('quiet');
    const set = await oma.client.post<{ create_per_minute: number | null; read_per_minute: number | null }>('/oma/v1/workspaces/busy/limits', {
      body: { create_per_minute: 0 },
    });
    assert.deepEqual([set.create_per_minute, set.read_per_minute], [0, null]);
    for (let i = 0; i < 80; i++) await busy.beta.environments.create({ name: `busy ${i}` });
    await oma.client.post('/oma/v1/workspaces/quiet/limits', { body: { read_per_minute: 2 } });
    await quiet.beta.environments.list();
    await quiet.beta.environments.list();
    await assert.rejects(quiet.beta.environments.list(), Anthropic.RateLimitError);
    await assert.rejects(oma.client.post('/oma/v1/workspaces/quiet/limits', { body: { read_per_minute: -1 } }), Anthropic.BadRequestError);
  });

  it('[HTTP-17] an event over the size limit is a 413 naming it, and nothing is appended', async () => {
    const client = await clientFor('events');
    const { session } = await createSession(client);
    process.env.OMA_MAX_EVENT_BYTES = '2048';
    try {
      await assert.rejects(
        client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'ok' }] }, { type: 'user.message', content: [{ type: 'text', text: 'x'.repeat(4096) }] }] }),
        (error: unknown) => error instanceof Anthropic.ContentTooLargeError && /events\.1/.test(error.message),
      );
    } finally {
      delete process.env.OMA_MAX_EVENT_BYTES;
    }
    assert.equal((await client.beta.sessions.events.list(session.id)).data.length, 0);
  });
});
