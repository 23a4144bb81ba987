import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { createAgent, createEnvironment } from '../../src/testing/fixtures.ts';
import { openRepositoryToken } from '../../src/vaults/use.ts';
import { findLeak, startVaultOma, type VaultOma } from './helpers.ts';

/** Vaults through the official SDK (spec hands-and-credentials §8.1), workspace isolation and sessions' vault_ids / repository tokens. */

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
let workspaces = 0;

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`vaults on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: VaultOma;
    let client: Anthropic;
    before(async () => {
      oma = await startVaultOma(storage);
    });
    after(() => oma?.dispose());

    /** A client on a workspace of its own, so lists hold exactly what the test made. */
    const ownClient = async () => {
      const { key } = await createKey(oma.db, { workspace: `vaults-${storage}-${++workspaces}` });
      return oma.clientFor(key);
    };
    const listAll = async (c: Anthropic, query: { include_archived?: boolean } = {}) => {
      const ids: string[] = [];
      for await (const vault of c.beta.vaults.list(query)) ids.push(vault.id);
      return ids;
    };

    it('[VAULT-1] create returns the SDK shape with every field; retrieve returns the same', async () => {
      client = await ownClient();
      const created = await client.beta.vaults.create({ display_name: 'Team secrets', metadata: { team: 'a' } });
      assert.match(created.id, /^vlt_[1-9A-HJ-NP-Za-km-z]{22}$/);
      assert.match(created.created_at, RFC3339_MS);
      assert.deepEqual(created, {
        type: 'vault',
        id: created.id,
        display_name: 'Team secrets',
        metadata: { team: 'a' },
        created_at: created.created_at,
        updated_at: created.created_at,
        archived_at: null,
      });
      assert.deepEqual(await client.beta.vaults.retrieve(created.id), created);
      const raw = (await (await client.beta.vaults.retrieve(created.id).asResponse()).json()) as Record<string, unknown>;
      assert.ok('archived_at' in raw && raw.archived_at === null);
    });

    it('[VAULT-1] list pages newest first; archived vaults only with include_archived', async () => {
      const c = await ownClient();
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await c.beta.vaults.create({ display_name: `v${i}` })).id);
      const first = await c.beta.vaults.list({ limit: 2 });
      assert.deepEqual(first.data.map((vault) => vault.id), [made[4], made[3]]);
      assert.ok(first.hasNextPage());
      assert.deepEqual(await listAll(c), [...made].reverse());
      const archived = await c.beta.vaults.archive(made[1]!);
      assert.match(archived.archived_at ?? '', RFC3339_MS);
      assert.equal(archived.updated_at, archived.archived_at);
      assert.deepEqual(await c.beta.vaults.archive(made[1]!), archived, 'archive is idempotent');
      assert.deepEqual(await listAll(c), [made[4], made[3], made[2], made[0]]);
      assert.deepEqual(await listAll(c, { include_archived: true }), [...made].reverse());
      await assert.rejects(c.beta.vaults.update(made[1]!, { display_name: 'again' }), Anthropic.BadRequestError);
    });

    it('[VAULT-1] update: display_name, metadata patch (null deletes); a no-op keeps updated_at', async () => {
      const c = await ownClient();
      const vault = await c.beta.vaults.create({ display_name: 'before', metadata: { keep: '1', drop: '2' } });
      const updated = await c.beta.vaults.update(vault.id, { display_name: 'after', metadata: { drop: null, add: '3' } });
      assert.equal(updated.display_name, 'after');
      assert.deepEqual(updated.metadata, { keep: '1', add: '3' });
      assert.ok(updated.updated_at >= vault.updated_at);
      const same = await c.beta.vaults.update(vault.id, { display_name: null, metadata: { keep: '1' } });
      assert.deepEqual(same, updated);
      assert.deepEqual(await c.beta.vaults.retrieve(vault.id), updated);
    });

    it('[VAULT-1] bad input is a 400 with the Anthropic error body, and changes nothing', async () => {
      const c = await ownClient();
      const bad: unknown[] = [
        {},
        { display_name: '' },
        { display_name: '   ' },
        { display_name: 'x'.repeat(256) },
        { display_name: 7 },
        { display_name: 'ok', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
        { display_name: 'ok', metadata: { ['k'.repeat(65)]: 'v' } },
        { display_name: 'ok', metadata: { k: 'v'.repeat(513) } },
        { display_name: 'ok', unknown_field: 1 },
      ];
      for (const body of bad) {
        await assert.rejects(c.beta.vaults.create(body as never), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, JSON.stringify(body).slice(0, 80));
          assert.equal((error.error as { type: string }).type, 'error');
          assert.equal((error.error as { error: { type: string } }).error.type, 'invalid_request_error');
          return true;
        });
      }
      assert.deepEqual(await listAll(c, { include_archived: true }), []);
      const vault = await c.beta.vaults.create({ display_name: 'stays', metadata: { a: '1' } });
      for (const body of [{ display_name: '' }, { metadata: { ['k'.repeat(65)]: 'v' } }, { display_name: 'x', nope: true }]) {
        await assert.rejects(c.beta.vaults.update(vault.id, body as never), Anthropic.BadRequestError);
      }
      assert.deepEqual(await c.beta.vaults.retrieve(vault.id), vault);
      await assert.rejects(c.beta.vaults.list({ limit: 0 }), Anthropic.BadRequestError);
    });

    it('[VAULT-1] delete removes the vault and its credentials', async () => {
      const c = await ownClient();
      const vault = await c.beta.vaults.create({ display_name: 'doomed' });
      const credential = await c.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com', token: 'canary-doomed-token' } });
      assert.deepEqual(await c.beta.vaults.delete(vault.id), { id: vault.id, type: 'vault_deleted' });
      await assert.rejects(c.beta.vaults.retrieve(vault.id), Anthropic.NotFoundError);
      await assert.rejects(c.beta.vaults.delete(vault.id), Anthropic.NotFoundError);
      await assert.rejects(c.beta.vaults.credentials.retrieve(credential.id, { vault_id: vault.id }), Anthropic.NotFoundError);
      const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_credentials WHERE id = $1', [credential.id]);
      assert.equal(rows[0]!.n, 0);
    });

    it("[VAULT-5] another workspace's vaults and credentials are 404 not_found_error on every route and never listed", async () => {
      const owner = await ownClient();
      const other = await ownClient();
      const vault = await owner.beta.vaults.create({ display_name: 'private' });
      const credential = await owner.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com', token: 'canary-ws-token' } });
      const notFound = (error: unknown) => {
        assert.ok(error instanceof Anthropic.NotFoundError);
        assert.equal((error.error as { error: { type: string } }).error.type, 'not_found_error');
        return true;
      };
      const params = { vault_id: vault.id };
      await assert.rejects(other.beta.vaults.retrieve(vault.id), notFound);
      await assert.rejects(other.beta.vaults.update(vault.id, { display_name: 'mine' }), notFound);
      await assert.rejects(other.beta.vaults.archive(vault.id), notFound);
      await assert.rejects(other.beta.vaults.delete(vault.id), notFound);
      await assert.rejects(other.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://x.example.com', token: 't' } }), notFound);
      await assert.rejects(other.beta.vaults.credentials.list(vault.id), notFound);
      await assert.rejects(other.beta.vaults.credentials.retrieve(credential.id, params), notFound);
      await assert.rejects(other.beta.vaults.credentials.update(credential.id, { ...params, display_name: 'x' }), notFound);
      await assert.rejects(other.beta.vaults.credentials.archive(credential.id, params), notFound);
      await assert.rejects(other.beta.vaults.credentials.delete(credential.id, params), notFound);
      await assert.rejects(other.beta.vaults.credentials.mcpOAuthValidate(credential.id, params), notFound);
      assert.deepEqual(await listAll(other, { include_archived: true }), []);
      // Its own vault does not reach another vault's credential either.
      const own = await other.beta.vaults.create({ display_name: 'own' });
      await assert.rejects(other.beta.vaults.credentials.retrieve(credential.id, { vault_id: own.id }), notFound);
      // Nothing changed for the owner.
      assert.deepEqual(await owner.beta.vaults.retrieve(vault.id), vault);
      assert.deepEqual(await owner.beta.vaults.credentials.retrieve(credential.id, params), credential);
    });

    it('[VAULT-5] a session naming a vault that is not usable in its workspace is a 404 naming it, and creates nothing', async () => {
      const c = await ownClient();
      const other = await ownClient();
      const agent = await createAgent(c);
      const environment = await createEnvironment(c);
      const mine = await c.beta.vaults.create({ display_name: 'mine' });
      const archived = await c.beta.vaults.create({ display_name: 'old' });
      await c.beta.vaults.archive(archived.id);
      const foreign = await other.beta.vaults.create({ display_name: 'theirs' });
      const missing = 'vlt_1111111111111111111111';
      const countSessions = async () => {
        let n = 0;
        for await (const _ of c.beta.sessions.list({ include_archived: true })) n++;
        return n;
      };
      for (const bad of [missing, foreign.id, archived.id]) {
        await assert.rejects(c.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [mine.id, bad] }), (error: unknown) => {
          assert.ok(error instanceof Anthropic.NotFoundError);
          assert.ok(error.message.includes(bad));
          return true;
        });
      }
      assert.equal(await countSessions(), 0);
      const session = await c.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [mine.id] });
      assert.deepEqual(session.vault_ids, [mine.id]);
      assert.equal(await countSessions(), 1);
    });

    it('[VAULT-5] a repository authorization_token is sealed at rest (resource id as aad) and never returned; rotation reseals', async () => {
      const c = await ownClient();
      const agent = await createAgent(c);
      const environment = await createEnvironment(c);
      const token = `canary-repo-token-${storage}`;
      const rotated = `canary-repo-rotated-${storage}`;
      const session = await c.beta.sessions.create({
        agent: agent.id,
        environment_id: environment.id,
        resources: [{ type: 'github_repository', url: 'https://github.com/acme/widgets', authorization_token: token }],
      });
      const resource = session.resources[0] as { id: string; type: string };
      assert.equal(resource.type, 'github_repository');
      const stored = async () =>
        (await oma.db.query<{ secret: string }>('SELECT secret FROM session_resources WHERE id = $1', [resource.id])).rows[0]!.secret;
      const sealed = await stored();
      assert.ok(!sealed.includes(token));
      assert.match(sealed, /^v1\./);
      assert.equal(openRepositoryToken(oma.secrets!, resource.id, sealed), token);
      assert.throws(() => openRepositoryToken(oma.secrets!, 'sesrsc_other', sealed));
      await c.beta.sessions.resources.update(resource.id, { session_id: session.id, authorization_token: rotated });
      assert.equal(openRepositoryToken(oma.secrets!, resource.id, await stored()), rotated);
      await c.beta.sessions.retrieve(session.id);
      await c.beta.sessions.resources.list(session.id);
      await c.beta.sessions.resources.retrieve(resource.id, { session_id: session.id });
      assert.equal(findLeak(oma.bodies, [token, rotated]), undefined);
      assert.equal(findLeak(oma.logs, [token, rotated]), undefined);
    });
  });
}

/** Without a master key nothing secret can be stored: a 400 that says how to fix it, and nothing written. */
for (const storage of ['pglite', 'postgres'] as const) {
  describe(`without a master key on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: VaultOma;
    before(async () => {
      // PGlite would generate a key; under the process sandbox it must not.
      oma = await startVaultOma(storage, { masterKey: null, config: storage === 'pglite' ? { sandbox: 'process' } : {} });
    });
    after(() => oma?.dispose());

    it('[VAULT-4] credentials and repository tokens are refused with 400 naming OMA_MASTER_KEY; vaults still work', async () => {
      assert.equal(oma.secrets, undefined);
      const client = oma.client;
      const vault = await client.beta.vaults.create({ display_name: 'keyless' });
      const expected = 'this server has no OMA_MASTER_KEY: set it (32 bytes, base64 or hex) on every oma process to store credentials';
      const refused = (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal((error.error as { error: { message: string } }).error.message, expected);
        return true;
      };
      await assert.rejects(client.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com', token: 'canary-keyless' } }), refused);
      assert.equal((await client.beta.vaults.credentials.list(vault.id)).data.length, 0);
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      await assert.rejects(
        client.beta.sessions.create({
          agent: agent.id,
          environment_id: environment.id,
          resources: [{ type: 'github_repository', url: 'https://github.com/acme/widgets', authorization_token: 'canary-keyless-repo' }],
        }),
        refused,
      );
      // A repository without a token needs no key.
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, resources: [{ type: 'github_repository', url: 'https://github.com/acme/widgets' }] });
      await assert.rejects(client.beta.sessions.resources.update((session.resources[0] as { id: string }).id, { session_id: session.id, authorization_token: 'canary-keyless-rotate' }), refused);
      const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int AS n FROM session_resources WHERE secret IS NOT NULL');
      assert.equal(rows[0]!.n, 0);
    });
  });
}
