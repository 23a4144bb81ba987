import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createSession } from '../../src/testing/fixtures.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

let oma: TestOma;
before(async () => (oma = await startTestOma()));
after(() => oma?.dispose());

it('[SES-12] a single-agent session has one primary thread that mirrors it', async () => {
  const client = oma.client;
  const { session } = await createSession(client);
  const threads = [];
  for await (const thread of client.beta.sessions.threads.list(session.id)) threads.push(thread);
  assert.equal(threads.length, 1);
  const [primary] = threads;
  assert.match(primary!.id, /^sthr_/);
  assert.equal(primary!.type, 'session_thread');
  assert.equal(primary!.session_id, session.id);
  assert.equal(primary!.parent_thread_id, null);
  assert.equal(primary!.status, 'idle');
  assert.equal(primary!.workflow_run_id, null);
  assert.equal((primary!.agent as { id: string }).id, session.agent.id);
  assert.ok(!('multiagent' in primary!.agent));
  const { stats: _retrievedStats, ...retrieved } = await client.beta.sessions.threads.retrieve(primary!.id, { session_id: session.id });
  const { stats: _listedStats, ...listed } = primary!;
  assert.deepEqual(retrieved, listed);
  assert.equal((await client.beta.sessions.threads.list(session.id, { statuses: ['running'] })).data.length, 0);

  const stream = await client.beta.sessions.threads.events.stream(primary!.id, { session_id: session.id });
  await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }] });
  for await (const event of stream) {
    assert.equal(event.type, 'user.message');
    break;
  }
  const events = (await client.beta.sessions.threads.events.list(primary!.id, { session_id: session.id })).data;
  assert.deepEqual(events.map((event) => event.type), ['user.message']);
  await assert.rejects(client.beta.sessions.threads.archive(primary!.id, { session_id: session.id }), Anthropic.BadRequestError);
  await assert.rejects(client.beta.sessions.threads.retrieve('sthr_nope', { session_id: session.id }), Anthropic.NotFoundError);
});
