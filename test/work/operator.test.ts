import Anthropic from '@anthropic-ai/sdk';
import { BetaInvalidMetadataError } from '@anthropic-ai/sdk/resources/beta/environments/environments';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';
import { BETA, mintEnvironmentKey, RFC3339_MS, selfHostedEnvironment, sessionOn, workerClient } from './helpers.ts';

/** The operator's work routes: stats, list, retrieve, metadata update (spec hands-and-credentials §2.1 W5–W8). */

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());

    const work = () => client.beta.environments.work;

    it('[WORK-3] stats: depth (never polled), pending (polled, not acked), oldest_queued_at over both, workers_polling by worker id', async () => {
      const environment = await selfHostedEnvironment(client);
      assert.deepEqual(await work().stats(environment.id), { type: 'work_queue_stats', depth: 0, pending: 0, oldest_queued_at: null, workers_polling: 0 });
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const sessions = [];
      for (let i = 0; i < 3; i++) sessions.push(await sessionOn(client, environment.id));
      const items = (await work().list(environment.id)).data;
      const oldest = items.at(-1)!;
      let stats = await work().stats(environment.id);
      assert.deepEqual(stats, { type: 'work_queue_stats', depth: 3, pending: 0, oldest_queued_at: oldest.created_at, workers_polling: 0 });
      const worker = workerClient(oma, key).beta.environments.work;
      const polled = (await worker.poll(environment.id, { 'Anthropic-Worker-ID': 'host-a' }))!;
      assert.equal(polled.id, oldest.id, 'the oldest item first');
      assert.equal((await worker.poll(environment.id, { 'Anthropic-Worker-ID': 'host-b' }))?.id, items[1]!.id);
      stats = await work().stats(environment.id);
      assert.deepEqual(stats, { type: 'work_queue_stats', depth: 1, pending: 2, oldest_queued_at: oldest.created_at, workers_polling: 2 });
      assert.equal((await worker.poll(environment.id, { 'Anthropic-Worker-ID': 'host-a' }))?.id, items[0]!.id);
      stats = await work().stats(environment.id);
      assert.deepEqual(stats, { type: 'work_queue_stats', depth: 0, pending: 3, oldest_queued_at: oldest.created_at, workers_polling: 2 }, 'a worker seen twice counts once');
      await worker.ack(polled.id, { environment_id: environment.id });
      stats = await work().stats(environment.id);
      assert.deepEqual({ depth: stats.depth, pending: stats.pending, oldest: stats.oldest_queued_at }, { depth: 0, pending: 2, oldest: items[1]!.created_at });
      // A worker seen more than 30 s ago no longer counts.
      await oma.db.query(`UPDATE worker_polls SET polled_at = polled_at - interval '31 seconds' WHERE worker_id = 'host-b'`);
      assert.equal((await work().stats(environment.id)).workers_polling, 1);
    });

    it('[WORK-3] list: the SDK shape, newest first, paged; the environment key may list too', async () => {
      const environment = await selfHostedEnvironment(client);
      const sessions = [];
      for (let i = 0; i < 3; i++) sessions.push(await sessionOn(client, environment.id));
      const first = await work().list(environment.id, { limit: 2 });
      assert.equal(first.data.length, 2);
      assert.ok(first.next_page);
      const all = [];
      for await (const item of work().list(environment.id, { limit: 2 })) all.push(item);
      assert.deepEqual(all.map((item) => item.data.id), sessions.map((session) => session.id).reverse());
      const item = all[0]!;
      assert.deepEqual(Object.keys(item).sort(), [
        'acknowledged_at', 'created_at', 'data', 'environment_id', 'id', 'latest_heartbeat_at', 'metadata', 'secret', 'started_at', 'state', 'stop_requested_at', 'stopped_at', 'type',
      ]);
      assert.equal(item.type, 'work');
      assert.equal(item.secret, null);
      assert.match(item.created_at, RFC3339_MS);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const byKey = await workerClient(oma, key).beta.environments.work.list(environment.id);
      assert.deepEqual(byKey.data.map((entry) => entry.id), all.map((entry) => entry.id));
    });

    it('[WORK-3] retrieve (secret null, even after a poll) and metadata update: merge, null deletes, limits checked', async () => {
      const environment = await selfHostedEnvironment(client);
      await sessionOn(client, environment.id);
      const { key } = await mintEnvironmentKey(oma, environment.id);
      const polled = (await workerClient(oma, key).beta.environments.work.poll(environment.id))!;
      assert.ok(polled.secret);
      const retrieved = await work().retrieve(polled.id, { environment_id: environment.id });
      assert.deepEqual(retrieved, { ...polled, secret: null });

      let updated = await work().update(polled.id, { environment_id: environment.id, metadata: { host: 'a', rack: '7' } });
      assert.deepEqual(updated.metadata, { host: 'a', rack: '7' });
      updated = await work().update(polled.id, { environment_id: environment.id, metadata: { host: null, zone: 'z' } });
      assert.deepEqual(updated.metadata, { rack: '7', zone: 'z' });
      assert.equal(updated.secret, null);
      assert.deepEqual((await work().retrieve(polled.id, { environment_id: environment.id })).metadata, { rack: '7', zone: 'z' });
      await assert.rejects(work().update(polled.id, { environment_id: environment.id, metadata: { ['k'.repeat(65)]: 'v' } }), BetaInvalidMetadataError);
      await assert.rejects(work().retrieve('work_missing', { environment_id: environment.id }), Anthropic.NotFoundError);
      // Without a body's metadata: 400.
      const response = await fetch(`${oma.url}/v1/environments/${environment.id}/work/${polled.id}`, {
        method: 'POST',
        headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json', ...BETA },
        body: '{}',
      });
      assert.equal(response.status, 400);
    });
  });
}
