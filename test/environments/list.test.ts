import Anthropic from '@anthropic-ai/sdk';
import { BetaEnvironmentNotFoundError, type BetaEnvironment } from '@anthropic-ai/sdk/resources/beta/environments/environments';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

/** Environments list, name uniqueness and workspace isolation, through the official SDK (spec §3). */

let workspaces = 0;

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    before(async () => {
      oma = await startTestOma({ storage });
    });
    after(() => oma?.dispose());

    /** An SDK client on a workspace of its own, so lists hold exactly what the test made. */
    async function freshWorkspace(options: { maxRetries?: number; fetch?: typeof fetch } = {}): Promise<Anthropic> {
      const { key } = await createKey(oma.db, { workspace: `envs-${storage}-${++workspaces}` });
      return new Anthropic({ baseURL: oma.url, apiKey: key, maxRetries: options.maxRetries ?? 0, fetch: options.fetch });
    }

    async function createMany(client: Anthropic, count: number, prefix = 'env'): Promise<BetaEnvironment[]> {
      const created: BetaEnvironment[] = [];
      // One after another: ids (and so the list order) follow creation order.
      for (let index = 0; index < count; index++) created.push(await client.beta.environments.create({ name: `${prefix}-${index}` }));
      return created;
    }

    async function listAll(client: Anthropic, params: { include_archived?: boolean; limit?: number } = {}): Promise<BetaEnvironment[]> {
      const all: BetaEnvironment[] = [];
      for await (const environment of client.beta.environments.list(params)) all.push(environment);
      return all;
    }

    const ids = (environments: BetaEnvironment[]) => environments.map((environment) => environment.id);

    it('[ENV-10] list is newest first; the SDK walks every page; a next_page passed back continues', async () => {
      const client = await freshWorkspace();
      const created = await createMany(client, 5);
      const newestFirst = ids(created).reverse();

      assert.deepEqual(ids(await listAll(client, { limit: 2 })), newestFirst, 'for await over pages of 2');

      const first = await client.beta.environments.list({ limit: 2 });
      assert.deepEqual(ids(first.data), newestFirst.slice(0, 2));
      assert.equal(typeof first.next_page, 'string');
      const second = await client.beta.environments.list({ limit: 2, page: first.next_page });
      assert.deepEqual(ids(second.data), newestFirst.slice(2, 4));
      const third = await second.getNextPage();
      assert.deepEqual(ids(third.data), newestFirst.slice(4));
      assert.equal(third.next_page, null, 'no next page after the last');
      assert.equal(third.hasNextPage(), false);
      assert.deepEqual(third.data[0], created[0], 'list items are whole environments');
    });

    it('[ENV-10] limit defaults to 20, accepts 1000, and outside 1…1000 is a 400', async () => {
      const client = await freshWorkspace();
      const created = await createMany(client, 21);
      const page = await client.beta.environments.list();
      assert.equal(page.data.length, 20);
      assert.deepEqual(ids(page.data), ids(created).reverse().slice(0, 20));
      assert.notEqual(page.next_page, null);
      const all = await client.beta.environments.list({ limit: 1000 });
      assert.equal(all.data.length, 21);
      assert.equal(all.next_page, null);
      for (const limit of [0, 1001]) await assert.rejects(client.beta.environments.list({ limit }), Anthropic.BadRequestError);
      await assert.rejects(client.beta.environments.list({ page: 'not-a-cursor' }), Anthropic.BadRequestError);
      // `page=` (empty, as the SDK sends page: null) is no page.
      assert.equal((await client.beta.environments.list({ page: null, limit: 1000 })).data.length, 21);
    });

    it('[ENV-11] archived environments are listed only with include_archived=true', async () => {
      const client = await freshWorkspace();
      const [oldest, middle, newest] = await createMany(client, 3);
      const archived = await client.beta.environments.archive(middle!.id);
      assert.deepEqual(ids(await listAll(client)), [newest!.id, oldest!.id]);
      assert.deepEqual(ids(await listAll(client, { include_archived: false })), [newest!.id, oldest!.id]);
      const withArchived = await listAll(client, { include_archived: true, limit: 1 });
      assert.deepEqual(ids(withArchived), [newest!.id, middle!.id, oldest!.id]);
      assert.deepEqual(withArchived[1], archived);
    });

    it('[ENV-9] a duplicate name is a 409 the SDK does not retry; archiving frees the name; another workspace may use it', async () => {
      let calls = 0;
      const countingFetch: typeof fetch = (input, init) => {
        calls++;
        return fetch(input, init);
      };
      const client = await freshWorkspace({ maxRetries: 2, fetch: countingFetch });
      const original = await client.beta.environments.create({ name: 'python' });
      calls = 0;
      await assert.rejects(client.beta.environments.create({ name: 'python', config: { type: 'self_hosted' } }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.ConflictError, String(error));
        assert.equal(error.status, 409);
        assert.equal(error.errorCode, 'environment_name_taken');
        assert.equal(error.headers.get('x-should-retry'), 'false');
        return true;
      });
      assert.equal(calls, 1, 'sent once although the client allows 2 retries');

      const other = await client.beta.environments.create({ name: 'node' });
      calls = 0;
      await assert.rejects(client.beta.environments.update(other.id, { name: 'python' }), Anthropic.ConflictError);
      assert.equal(calls, 1);
      assert.deepEqual(await client.beta.environments.retrieve(other.id), other, 'the failed rename wrote nothing');
      assert.deepEqual(ids(await listAll(client, { include_archived: true })), [other.id, original.id]);

      // Names are case-sensitive, and an environment may keep its own name on update.
      await client.beta.environments.create({ name: 'Python' });
      assert.equal((await client.beta.environments.update(original.id, { name: 'python' })).name, 'python');

      await client.beta.environments.archive(original.id);
      const reused = await client.beta.environments.create({ name: 'python' });
      assert.equal(reused.name, 'python');
      assert.notEqual(reused.id, original.id);

      // Concurrent creates of one name: exactly one wins, the others are 409s.
      const racers = await Promise.allSettled(Array.from({ length: 5 }, () => client.beta.environments.create({ name: 'ruby' })));
      assert.equal(racers.filter((result) => result.status === 'fulfilled').length, 1);
      assert.ok(racers.every((result) => result.status === 'fulfilled' || result.reason instanceof Anthropic.ConflictError));

      const elsewhere = await freshWorkspace();
      assert.equal((await elsewhere.beta.environments.create({ name: 'python' })).name, 'python');
    });

    it("[ENV-15] another workspace's environment is a 404 environment_not_found on every route and never listed", async () => {
      const owner = await freshWorkspace();
      const stranger = await freshWorkspace();
      const mine = await owner.beta.environments.create({ name: 'private', metadata: { secret: 'yes' } });
      const calls = [
        () => stranger.beta.environments.retrieve(mine.id),
        () => stranger.beta.environments.update(mine.id, { name: 'stolen', metadata: { secret: null } }),
        () => stranger.beta.environments.archive(mine.id),
        () => stranger.beta.environments.delete(mine.id),
      ];
      for (const call of calls) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof BetaEnvironmentNotFoundError, String(error));
          assert.equal(error.errorCode, 'environment_not_found');
          return true;
        });
      }
      assert.deepEqual(await listAll(stranger, { include_archived: true }), []);
      assert.deepEqual(await owner.beta.environments.retrieve(mine.id), mine, 'nothing changed');
      // The seeded default-workspace key sees none of it either.
      await assert.rejects(oma.client.beta.environments.retrieve(mine.id), BetaEnvironmentNotFoundError);
    });
  });
}
