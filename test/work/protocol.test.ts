import Anthropic from '@anthropic-ai/sdk';
import { BetaHeartbeatPreconditionFailedError, type BetaSelfHostedWork } from '@anthropic-ai/sdk/resources/beta/environments/work';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEnvironment } from '../../src/testing/fixtures.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';
import { ensureWorkItem, heartbeatWork } from '../../src/work/store.ts';
import { BETA, mintEnvironmentKey, raw, RFC3339_MS, selfHostedEnvironment, sessionOn, sessionsTokenFromSecret, sleep, workerClient } from './helpers.ts';

/** The work protocol as the SDK's poller and worker drive it (spec hands-and-credentials §2–4). */

const TTL_SECONDS = 2;

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    /** What the sweeper reported through onLeaseLost. */
    const leasesLost: string[][] = [];
    before(async () => {
      oma = await startTestOma({ storage, config: { workTtlSeconds: TTL_SECONDS }, onLeaseLost: async (sessionIds) => void leasesLost.push(sessionIds) });
      client = oma.client;
    });
    after(() => oma?.dispose());

    /** A fresh self_hosted environment (its own queue), a key for it, and a session queued on it. */
    async function queuedSession() {
      const environment = await selfHostedEnvironment(client);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const session = await sessionOn(client, environment.id);
      return { environment, key, session };
    }

    /** Poll and ack as the SDK's poller does, without its sleeps; the item and its sessions token. */
    async function claim(environmentId: string, key: string) {
      const worker = workerClient(oma, key);
      const item = (await worker.beta.environments.work.poll(environmentId, { 'Anthropic-Worker-ID': 'test-worker' })) as BetaSelfHostedWork;
      assert.ok(item, 'an item was polled');
      await worker.beta.environments.work.ack(item.id, { environment_id: environmentId });
      return { item, token: sessionsTokenFromSecret(item.secret)! };
    }

    const work = () => client.beta.environments.work;

    it('[WORK-1] a session on a self_hosted environment is queued at create; a cloud one is not', async () => {
      const environment = await selfHostedEnvironment(client);
      const session = await sessionOn(client, environment.id);
      const page = await work().list(environment.id);
      assert.equal(page.data.length, 1);
      const [item] = page.data;
      assert.match(item!.id, /^work_[1-9A-HJ-NP-Za-km-z]{22}$/);
      assert.deepEqual(item!.data, { type: 'session', id: session.id });
      assert.equal(item!.state, 'queued');
      assert.equal(item!.environment_id, environment.id);

      const cloud = await createEnvironment(client);
      const cloudSession = await sessionOn(client, cloud.id);
      const { rows } = await oma.db.query<{ count: number }>('SELECT count(*)::int AS count FROM work_items WHERE session_id = $1', [cloudSession.id]);
      assert.equal(rows[0]!.count, 0);
    });

    it('[WORK-1] a stopped session is queued again when it gets a message; a live item is never doubled', async () => {
      const { environment, session } = await queuedSession();
      const send = () => client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }] });
      await send(); // live (queued) item: no second one
      let items = (await work().list(environment.id)).data;
      assert.equal(items.length, 1);
      await work().stop(items[0]!.id, { environment_id: environment.id, force: true });
      await send();
      items = (await work().list(environment.id)).data;
      assert.equal(items.length, 2);
      assert.deepEqual(items.map((item) => item.state), ['queued', 'stopped']); // newest first
      assert.notEqual(items[0]!.id, items[1]!.id);
      assert.deepEqual(items[0]!.data, { type: 'session', id: session.id });
    });

    it('[WORK-1] concurrent enqueues of one session make one live item', async () => {
      const { environment, session } = await queuedSession();
      const workspaceId = await workspaceOf(session.id);
      // Its item is stopped, so the next enqueue may insert: let ten race for it.
      const [live] = (await work().list(environment.id)).data;
      await work().stop(live!.id, { environment_id: environment.id, force: true });
      await Promise.all(Array.from({ length: 10 }, () => ensureWorkItem(oma.db, { id: session.id, workspaceId, environmentId: environment.id })));
      const { rows } = await oma.db.query<{ count: number }>("SELECT count(*)::int AS count FROM work_items WHERE session_id = $1 AND state <> 'stopped'", [session.id]);
      assert.equal(rows[0]!.count, 1);
      assert.equal((await work().list(environment.id)).data.length, 2);
    });

    async function workspaceOf(sessionId: string): Promise<string> {
      const { rows } = await oma.db.query<{ workspace_id: string }>('SELECT workspace_id FROM sessions WHERE id = $1', [sessionId]);
      return rows[0]!.workspace_id;
    }

    it('[WORK-2] an empty poll answers 204 without a body: at once, or after holding block_ms', async () => {
      const environment = await selfHostedEnvironment(client);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const path = `/v1/environments/${environment.id}/work/poll`;
      let started = Date.now();
      let response = await raw(oma, key, 'GET', path);
      assert.equal(response.status, 204);
      assert.equal(response.json, undefined);
      assert.ok(Date.now() - started < 300, `a poll without block_ms returns at once (${Date.now() - started} ms)`);
      started = Date.now();
      response = await raw(oma, key, 'GET', `${path}?block_ms=400`);
      const held = Date.now() - started;
      assert.equal(response.status, 204);
      assert.ok(held >= 380 && held < 999, `held ${held} ms for block_ms=400`);
      assert.equal((await raw(oma, key, 'GET', `${path}?block_ms=1000`)).status, 400);
      assert.equal((await raw(oma, key, 'GET', `${path}?block_ms=0`)).status, 400);
      // The SDK reads the 204 as "no work".
      assert.equal(await workerClient(oma, key).beta.environments.work.poll(environment.id), null);
    });

    it('[WORK-2] a held poll returns an item that arrives while it waits', async () => {
      const environment = await selfHostedEnvironment(client);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const started = Date.now();
      const polled = workerClient(oma, key).beta.environments.work.poll(environment.id, { block_ms: 999 });
      await sleep(200);
      const session = await sessionOn(client, environment.id);
      const item = await polled;
      assert.ok(item && Date.now() - started < 999);
      assert.deepEqual(item.data, { type: 'session', id: session.id });
    });

    it("[WORK-2] the SDK's poller claims an item: environment_id, a secret its worker decodes, ack → starting", async () => {
      const { environment, key, session } = await queuedSession();
      const poller = client.beta.environments.work.poller({ environmentId: environment.id, environmentKey: key, drain: true, autoStop: false, workerId: 'poller-1' });
      const items: BetaSelfHostedWork[] = [];
      for await (const item of poller) items.push(item);
      assert.equal(items.length, 1);
      const [item] = items;
      assert.equal(item!.environment_id, environment.id);
      assert.deepEqual(item!.data, { type: 'session', id: session.id });
      assert.match(item!.secret ?? '', /^[A-Za-z0-9_-]+$/, 'base64url without padding');
      const token = sessionsTokenFromSecret(item!.secret);
      assert.match(token ?? '', /^sk-oma-req-[A-Za-z0-9_-]{43}$/);
      const payload = JSON.parse(Buffer.from(item!.secret!, 'base64url').toString('utf8'));
      assert.deepEqual(payload, { sessions_token: token, api_base_url: oma.url });
      const retrieved = await work().retrieve(item!.id, { environment_id: environment.id });
      assert.equal(retrieved.state, 'starting');
      assert.match(retrieved.acknowledged_at ?? '', RFC3339_MS);
      assert.equal(retrieved.secret, null);
      assert.equal(retrieved.started_at, null);
      // Ack again (a retry whose answer was lost, or a late ack after a re-offer): idempotent.
      const again = await raw(oma, key, 'POST', `/v1/environments/${environment.id}/work/${item!.id}/ack`);
      assert.equal(again.status, 200);
      assert.equal(again.json!.state, 'starting');
      // HEAD is not a poll: it must not hand out an item nobody receives.
      assert.equal((await raw(oma, key, 'HEAD', `/v1/environments/${environment.id}/work/poll`)).status, 403);
    });

    it('[WORK-2] heartbeats: NO_HEARTBEAT claims the lease (→ active), then each the exact previous value; a mismatch is 412 with current_state', async () => {
      const { environment, key } = await queuedSession();
      const { item, token } = await claim(environment.id, key);
      const worker = workerClient(oma, token).beta.environments.work;
      const first = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'NO_HEARTBEAT' });
      assert.deepEqual(first, { type: 'work_heartbeat', last_heartbeat: first.last_heartbeat, lease_extended: true, state: 'active', ttl_seconds: TTL_SECONDS });
      assert.match(first.last_heartbeat, RFC3339_MS);
      const active = await work().retrieve(item.id, { environment_id: environment.id });
      assert.equal(active.state, 'active');
      assert.match(active.started_at ?? '', RFC3339_MS);
      assert.equal(active.latest_heartbeat_at, first.last_heartbeat);

      const second = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: first.last_heartbeat });
      const third = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: second.last_heartbeat });
      assert.equal(third.lease_extended, true);
      assert.equal(new Set([first.last_heartbeat, second.last_heartbeat, third.last_heartbeat]).size, 3, 'every beat returns a new value');

      for (const stale of ['NO_HEARTBEAT', first.last_heartbeat]) {
        await assert.rejects(worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: stale }), (error: unknown) => {
          assert.ok(error instanceof BetaHeartbeatPreconditionFailedError, String(error));
          assert.equal(error.status, 412);
          assert.equal(error.errorCode, 'heartbeat_precondition_failed');
          assert.deepEqual(error.details.current_state, { last_heartbeat: third.last_heartbeat, lease_extended: false, state: 'active', ttl_seconds: TTL_SECONDS });
          assert.equal((error.error as { error: { type: string } }).error.type, 'invalid_request_error');
          return true;
        });
      }
      // The refused beats changed nothing: the last value still extends the lease.
      const fourth = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: third.last_heartbeat });
      assert.equal(fourth.lease_extended, true);
    });

    it('[WORK-2] a graceful stop reaches the worker as state stopping on its next heartbeat; force stops; stop is idempotent', async () => {
      const { environment, key } = await queuedSession();
      const { item, token } = await claim(environment.id, key);
      const worker = workerClient(oma, token).beta.environments.work;
      const beat = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'NO_HEARTBEAT' });
      const stopping = await work().stop(item.id, { environment_id: environment.id });
      assert.equal(stopping.state, 'stopping');
      assert.match(stopping.stop_requested_at ?? '', RFC3339_MS);
      assert.equal(stopping.stopped_at, null);
      // No comparison in stopping: even a wrong value is answered with the state.
      for (const expected of [beat.last_heartbeat, 'anything']) {
        const next = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: expected });
        assert.equal(next.state, 'stopping');
        assert.equal(next.lease_extended, false);
      }
      const stopped = await worker.stop(item.id, { environment_id: environment.id, force: true });
      assert.equal(stopped.state, 'stopped');
      assert.match(stopped.stopped_at ?? '', RFC3339_MS);
      assert.equal(stopped.stop_requested_at, stopping.stop_requested_at);
      assert.equal(stopped.secret, null);
      // Again, with the API key and the environment key: 200 and the same stopped item.
      assert.deepEqual(await work().stop(item.id, { environment_id: environment.id, force: true }), stopped);
      const byKey = await raw(oma, key, 'POST', `/v1/environments/${environment.id}/work/${item.id}/stop`, {});
      assert.equal(byKey.status, 200);
      assert.deepEqual(byKey.json, stopped);
      const hb = await workerClient(oma, key).beta.environments.work.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'x' });
      assert.deepEqual({ state: hb.state, lease_extended: hb.lease_extended }, { state: 'stopped', lease_extended: false });
    });

    it('[WORK-2] force stop of a held item is immediate; a graceful stop of a queued item stops it', async () => {
      const { environment, key } = await queuedSession();
      const { item } = await claim(environment.id, key);
      assert.equal((await work().stop(item.id, { environment_id: environment.id, force: true })).state, 'stopped');
      const other = await queuedSession();
      const [queued] = (await work().list(other.environment.id)).data;
      assert.equal((await work().stop(queued!.id, { environment_id: other.environment.id })).state, 'stopped');
    });

    it('[WORK-2] an unacknowledged item is offered again after reclaim_older_than_ms, not before, with a new token', async () => {
      const { environment, key, session } = await queuedSession();
      const worker = workerClient(oma, key).beta.environments.work;
      const first = (await worker.poll(environment.id, { reclaim_older_than_ms: 600 }))!;
      assert.ok(first);
      assert.equal(await worker.poll(environment.id, { reclaim_older_than_ms: 600 }), null, 'held by the first poll');
      assert.equal(await worker.poll(environment.id), null, 'the default reclaim is 5 s');
      const stats = await work().stats(environment.id);
      assert.deepEqual({ depth: stats.depth, pending: stats.pending }, { depth: 0, pending: 1 });
      const oldToken = sessionsTokenFromSecret(first.secret)!;
      assert.equal((await raw(oma, oldToken, 'GET', `/v1/sessions/${session.id}`)).status, 200);
      await sleep(700);
      const second = (await worker.poll(environment.id, { reclaim_older_than_ms: 600 }))!;
      assert.equal(second?.id, first.id);
      const newToken = sessionsTokenFromSecret(second.secret)!;
      assert.notEqual(newToken, oldToken);
      assert.equal((await raw(oma, oldToken, 'GET', `/v1/sessions/${session.id}`)).status, 401, 'the re-offer killed the old token');
      assert.equal((await raw(oma, newToken, 'GET', `/v1/sessions/${session.id}`)).status, 200);
    });

    it('[WORK-2] a lease not renewed within the TTL lapses: the item is queued again, its heartbeat cleared, the old token refused', async () => {
      const { environment, key, session } = await queuedSession();
      const { item, token } = await claim(environment.id, key);
      const worker = workerClient(oma, token).beta.environments.work;
      const beat = await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: 'NO_HEARTBEAT' });
      // Renewing keeps it: beat for a while longer than one TTL.
      let last = beat.last_heartbeat;
      for (let i = 0; i < 3; i++) {
        await sleep(800);
        last = (await worker.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: last })).last_heartbeat;
      }
      assert.equal((await work().retrieve(item.id, { environment_id: environment.id })).state, 'active');
      // A beat that comes after the lease's time is refused even before the sweeper re-queues the item
      // (the sweeper may already have closed its calls).
      const late = new Date(Date.now() + (TTL_SECONDS + 5) * 1000);
      await assert.rejects(heartbeatWork(oma.db, environment.id, item.id, { expected: last, ttlSeconds: TTL_SECONDS, now: late }), (error: Error & { code?: string }) => error.code === 'precondition_failed');
      // Then stop beating: within TTL + a sweep it is back in the queue.
      const deadline = Date.now() + TTL_SECONDS * 1000 + 3_000;
      let state = 'active';
      while (Date.now() < deadline && state !== 'queued') {
        await sleep(200);
        state = (await work().retrieve(item.id, { environment_id: environment.id })).state;
      }
      const requeued = await work().retrieve(item.id, { environment_id: environment.id });
      assert.equal(requeued.state, 'queued');
      assert.ok(leasesLost.some((sessionIds) => sessionIds.includes(session.id)), 'the sweeper told onLeaseLost');
      assert.equal(requeued.latest_heartbeat_at, null);
      assert.equal((await raw(oma, token, 'GET', `/v1/sessions/${session.id}`)).status, 401);
      assert.equal((await raw(oma, token, 'POST', `/v1/environments/${environment.id}/work/${item.id}/heartbeat?expected_last_heartbeat=${encodeURIComponent(last)}`)).status, 401);
      // The old holder falling back to the environment key is told the lease is gone.
      await assert.rejects(workerClient(oma, key).beta.environments.work.heartbeat(item.id, { environment_id: environment.id, expected_last_heartbeat: last }), (error: unknown) => {
        assert.ok(error instanceof BetaHeartbeatPreconditionFailedError);
        assert.deepEqual(error.details.current_state, { last_heartbeat: null, lease_extended: false, state: 'queued', ttl_seconds: TTL_SECONDS });
        return true;
      });
      // And another worker gets it.
      const again = await claim(environment.id, key);
      assert.equal(again.item.id, item.id);
    });

    it('[WORK-2] the work routes of a cloud environment are 400; of another workspace 404', async () => {
      const cloud = await createEnvironment(client);
      const response = await fetch(`${oma.url}/v1/environments/${cloud.id}/work/stats`, { headers: { 'x-api-key': TEST_API_KEY, ...BETA } });
      assert.equal(response.status, 400);
      assert.match(((await response.json()) as { error: { message: string } }).error.message, /self_hosted/);
      const environment = await selfHostedEnvironment(client);
      const created = await fetch(`${oma.url}/oma/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workspace: `other-${storage}` }),
      });
      const otherKey = ((await created.json()) as { key: string }).key;
      const other = new Anthropic({ baseURL: oma.url, apiKey: otherKey, maxRetries: 0 });
      await assert.rejects(other.beta.environments.work.stats(environment.id), Anthropic.NotFoundError);
      await assert.rejects(other.beta.environments.work.list(environment.id), Anthropic.NotFoundError);
    });
  });
}
