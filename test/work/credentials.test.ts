import Anthropic from '@anthropic-ai/sdk';
import type { BetaSelfHostedWork } from '@anthropic-ai/sdk/resources/beta/environments/work';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAgent, createEnvironment } from '../../src/testing/fixtures.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { runOmaToEnd } from '../../src/testing/processes.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';
import { BETA, mintEnvironmentKey, raw, selfHostedEnvironment, sessionOn, sessionsTokenFromSecret, workerClient } from './helpers.ts';

/** Environment keys and sessions tokens: minted how, valid for what, for how long (spec hands-and-credentials §0.4, §11). */

const KEY_SHAPE = /^sk-oma-env-[A-Za-z0-9_-]{43}$/;

// Streams re-check a worker's credential at each keep-alive: keep them short here.
process.env.OMA_SSE_KEEPALIVE_MS = '300';

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());

    const admin = (method: string, path: string, key = TEST_API_KEY) =>
      fetch(`${oma.url}/oma/v1${path}`, { method, headers: { authorization: `Bearer ${key}` } }).then(async (response) => ({
        status: response.status,
        json: (await response.json()) as Record<string, any>,
      }));

    it('[WORK-4] the admin route mints a key once (stored hashed), lists without it, refuses non-admins, cloud and unknown environments', async () => {
      const environment = await selfHostedEnvironment(client);
      const created = await admin('POST', `/environments/${environment.id}/keys`);
      assert.equal(created.status, 200);
      assert.match(created.json.key, KEY_SHAPE);
      assert.equal(created.json.environment_id, environment.id);
      assert.match(created.json.id, /^envkey_/);
      assert.ok(created.json.created_at);
      const { rows } = await oma.db.query<Record<string, unknown>>('SELECT * FROM environment_keys WHERE id = $1', [created.json.id]);
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows[0]).includes(created.json.key), 'the key itself is not stored');
      const listed = await admin('GET', `/environments/${environment.id}/keys`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.json.data.map((info: { id: string }) => info.id), [created.json.id]);
      assert.ok(!JSON.stringify(listed.json).includes(created.json.key));
      assert.equal(listed.json.data[0].key, undefined);

      const plain = await fetch(`${oma.url}/oma/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: '{}' });
      const nonAdmin = ((await plain.json()) as { key: string }).key;
      assert.equal((await admin('POST', `/environments/${environment.id}/keys`, nonAdmin)).status, 403);
      assert.equal((await admin('POST', `/environments/${(await createEnvironment(client)).id}/keys`)).status, 400);
      assert.equal((await admin('POST', '/environments/env_missing/keys')).status, 404);
    });

    it('[WORK-4] an environment key polls its environment; anything else is 403, another environment 404, revoked 401', async () => {
      const environment = await selfHostedEnvironment(client);
      const { id, key } = await mintEnvironmentKey(oma, environment.id);
      const worker = workerClient(oma, key);
      assert.equal(await worker.beta.environments.work.poll(environment.id), null);
      const session = await sessionOn(client, environment.id);
      const item = (await worker.beta.environments.work.poll(environment.id))!;
      assert.equal(item.data.id, session.id);
      await worker.beta.environments.work.ack(item.id, { environment_id: environment.id });

      // The SDK's fallback when an item has no usable secret: serve the item's session with the key.
      assert.equal((await worker.beta.sessions.retrieve(session.id)).id, session.id);
      assert.ok(Array.isArray((await worker.beta.sessions.events.list(session.id)).data));
      const beat = await worker.beta.environments.work.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'NO_HEARTBEAT' });
      assert.equal(beat.state, 'active');

      for (const [method, path] of [
        ['GET', '/v1/agents'],
        ['GET', `/v1/environments/${environment.id}`],
        ['GET', `/v1/environments/${environment.id}/work/stats`],
        ['GET', `/v1/environments/${environment.id}/work/${item.id}`],
        ['GET', '/v1/sessions'],
        ['DELETE', `/v1/sessions/${session.id}`],
        ['GET', '/oma/v1/keys'],
      ] as const) {
        const response = await raw(oma, key, method, path);
        assert.equal(response.status, 403, `${method} ${path}`);
        assert.equal(response.json!.error.type, 'permission_error');
        assert.match(response.json!.error.message, /environment key/);
      }
      await assert.rejects(worker.beta.agents.list(), Anthropic.PermissionDeniedError);

      const other = await selfHostedEnvironment(client);
      const otherSession = await sessionOn(client, other.id);
      await assert.rejects(worker.beta.environments.work.poll(other.id), Anthropic.NotFoundError);
      await assert.rejects(worker.beta.sessions.retrieve(otherSession.id), Anthropic.NotFoundError);
      // A session of its own environment without a live item is not its to serve.
      await client.beta.environments.work.stop(item.id, { environment_id: environment.id, force: true });
      await assert.rejects(worker.beta.sessions.retrieve(session.id), Anthropic.NotFoundError);

      const revoked = await admin('POST', `/environments/${environment.id}/keys/${id}/revoke`);
      assert.equal(revoked.status, 200);
      assert.ok(revoked.json.revoked_at);
      await assert.rejects(worker.beta.environments.work.poll(environment.id), Anthropic.AuthenticationError);
    });

    it("[WORK-5] a sessions token serves its own session and item only; another is 404, any other route 403; it dies with the stop; it is not an API key", async () => {
      const environment = await selfHostedEnvironment(client);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const session = await sessionOn(client, environment.id);
      const neighbour = await sessionOn(client, environment.id);
      const envKeyClient = workerClient(oma, key).beta.environments.work;
      const item = (await envKeyClient.poll(environment.id)) as BetaSelfHostedWork;
      assert.equal(item.data.id, session.id);
      await envKeyClient.ack(item.id, { environment_id: environment.id });
      const token = sessionsTokenFromSecret(item.secret)!;
      const worker = workerClient(oma, token);

      assert.equal((await worker.beta.sessions.retrieve(session.id)).id, session.id);
      // It answers tool calls; it cannot steer the session (prompt the model, approve calls, interrupt).
      for (const event of [
        { type: 'user.message', content: [{ type: 'text', text: 'from the worker' }] },
        { type: 'user.tool_confirmation', tool_use_id: 'sevt_x', result: 'allow' },
        { type: 'user.interrupt' },
      ]) {
        await assert.rejects(worker.beta.sessions.events.send(session.id, { events: [event] } as never), (error: Error) => {
          assert.ok(error instanceof Anthropic.PermissionDeniedError);
          assert.match(error.message, /may send only user.tool_result and user.custom_tool_result/);
          return true;
        });
      }
      const events = await worker.beta.sessions.events.list(session.id, { limit: 1000 });
      assert.ok(!events.data.some((event) => event.type === 'user.message' || event.type === 'user.interrupt'), 'nothing was appended');
      const abort = new AbortController();
      const stream = await fetch(`${oma.url}/v1/sessions/${session.id}/events/stream`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...BETA }, signal: abort.signal });
      assert.equal(stream.status, 200);
      abort.abort();
      const beat = await worker.beta.environments.work.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'NO_HEARTBEAT' });
      assert.equal(beat.lease_extended, true);

      await assert.rejects(worker.beta.sessions.retrieve(neighbour.id), Anthropic.NotFoundError);
      await assert.rejects(worker.beta.sessions.events.list(neighbour.id), Anthropic.NotFoundError);
      const neighbourItem = (await client.beta.environments.work.list(environment.id)).data.find((entry) => entry.data.id === neighbour.id)!;
      await assert.rejects(worker.beta.environments.work.stop(neighbourItem.id, { environment_id: environment.id, force: true }), Anthropic.NotFoundError);
      for (const [method, path] of [
        ['GET', '/v1/agents'],
        ['GET', `/v1/environments/${environment.id}/work/poll`],
        ['GET', `/v1/environments/${environment.id}/work`],
        ['POST', `/v1/environments/${environment.id}/work/${item.id}/ack`],
        ['GET', `/v1/sessions/${session.id}/resources`],
        ['POST', `/v1/sessions/${session.id}/archive`],
        ['GET', '/oma/v1/keys'],
      ] as const) {
        const response = await raw(oma, token, method, path);
        assert.equal(response.status, 403, `${method} ${path}`);
        assert.match(response.json!.error.message, /sessions token/);
      }
      // Presented the way API keys are (x-api-key): still only a sessions token.
      const asApiKey = new Anthropic({ baseURL: oma.url, apiKey: token, maxRetries: 0 });
      await assert.rejects(asApiKey.beta.agents.list(), Anthropic.PermissionDeniedError);
      await assert.rejects(createAgent(asApiKey), Anthropic.PermissionDeniedError);

      // An open stream is cut when its item stops (checked at each keep-alive).
      const watching = new AbortController();
      const open = await fetch(`${oma.url}/v1/sessions/${session.id}/events/stream`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...BETA }, signal: watching.signal });
      const ended = (async () => {
        for await (const _chunk of open.body!) {
          // drain until the server closes it
        }
        return true;
      })();

      const stopped = await worker.beta.environments.work.stop(item.id, { environment_id: environment.id, force: true });
      assert.equal(stopped.state, 'stopped');
      await assert.rejects(worker.beta.sessions.retrieve(session.id), Anthropic.AuthenticationError);
      await assert.rejects(worker.beta.sessions.events.list(session.id), Anthropic.AuthenticationError);
      // Its holder still learns of the stop the way the SDK expects: heartbeat 200 `stopped`, stop idempotent.
      const told = await worker.beta.environments.work.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: beat.last_heartbeat });
      assert.deepEqual([told.state, told.lease_extended], ['stopped', false]);
      const after = await raw(oma, token, 'POST', `/v1/environments/${environment.id}/work/${item.id}/stop`, { force: true });
      assert.equal(after.status, 200);
      assert.equal(await Promise.race([ended, new Promise((resolve) => setTimeout(() => resolve(false), 5_000))]), true, 'the stream was closed');
      watching.abort();
    });
  });
}

describe('oma environments key (CLI, through the running server)', () => {
  let oma: TestOma;
  before(async () => {
    oma = await startTestOma();
  });
  after(() => oma?.dispose());

  const cli = (...args: string[]) => runOmaToEnd(['environments', 'key', ...args], { OMA_URL: oma.url, OMA_API_KEY: TEST_API_KEY });

  it('[WORK-4] create prints the key alone on the last line (or JSON), list shows it without the key, revoke ends it', async () => {
    const environment = await selfHostedEnvironment(oma.client);
    const created = await cli('create', environment.id);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trimEnd().split('\n').at(-1)!;
    assert.match(key, KEY_SHAPE);
    assert.equal(await workerClient(oma, key).beta.environments.work.poll(environment.id), null);

    const json = await cli('create', environment.id, '--json');
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { key: string; id: string; environment_id: string };
    assert.match(parsed.key, KEY_SHAPE);
    assert.equal(parsed.environment_id, environment.id);

    const listed = await cli('list', environment.id, '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const data = (JSON.parse(listed.stdout) as { data: { id: string }[] }).data;
    assert.equal(data.length, 2);
    assert.ok(!listed.stdout.includes(key) && !listed.stdout.includes(parsed.key));

    const revoked = await cli('revoke', environment.id, parsed.id);
    assert.equal(revoked.code, 0, revoked.stderr);
    await assert.rejects(workerClient(oma, parsed.key).beta.environments.work.poll(environment.id), Anthropic.AuthenticationError);
    assert.equal(await workerClient(oma, key).beta.environments.work.poll(environment.id), null, 'the other key still works');

    const failed = await runOmaToEnd(['environments', 'key', 'create', environment.id], { OMA_URL: oma.url, OMA_API_KEY: 'sk-oma-not-a-key-0000000000' });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /401/);
  });
});
