import Anthropic from '@anthropic-ai/sdk';
import type { BetaManagedAgentsCredential } from '@anthropic-ai/sdk/resources/beta/vaults/credentials';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { findMcpCredential } from '../../src/vaults/use.ts';
import { findLeak, startVaultOma, type VaultOma } from './helpers.ts';

/** Credentials of every kind through the official SDK (spec §8.1–8.2): CRUD, update rules, limits, write-only secrets, encryption at rest. */

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const future = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();
let workspaces = 0;

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`credentials on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: VaultOma;
    /** Every secret planted through the API: none may ever come back. */
    const canaries: string[] = [];
    const canary = (label: string) => {
      const value = `canary-${label}-${storage}-${canaries.length}-q8Zr`;
      canaries.push(value);
      return value;
    };
    before(async () => {
      oma = await startVaultOma(storage);
    });
    after(() => oma?.dispose());

    const setup = async () => {
      const { key, workspace_id: workspaceId } = await createKey(oma.db, { workspace: `creds-${storage}-${++workspaces}` });
      const client = oma.clientFor(key);
      const vault = await client.beta.vaults.create({ display_name: 'v' });
      return { client, vault, workspaceId, vaultId: vault.id };
    };
    const rawRow = async (id: string) =>
      (await oma.db.query<{ secret: string; auth: unknown }>('SELECT secret, auth FROM vault_credentials WHERE id = $1', [id])).rows[0]!;

    it('[VAULT-2] mcp_oauth with refresh: the response has the public part only, every field present', async () => {
      const { client, vaultId } = await setup();
      const expiresAt = future();
      const credential = await client.beta.vaults.credentials.create(vaultId, {
        display_name: 'Linear',
        metadata: { owner: 'me' },
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: 'https://mcp.linear.app/mcp',
          access_token: canary('access'),
          expires_at: expiresAt,
          refresh: {
            refresh_token: canary('refresh'),
            client_id: 'client-1',
            token_endpoint: 'https://auth.linear.app/token',
            token_endpoint_auth: { type: 'client_secret_basic', client_secret: canary('client-secret') },
            scope: 'read write',
          },
        },
      });
      assert.match(credential.id, /^vcrd_[1-9A-HJ-NP-Za-km-z]{22}$/);
      assert.match(credential.created_at, RFC3339_MS);
      assert.deepEqual(credential, {
        type: 'vault_credential',
        id: credential.id,
        vault_id: vaultId,
        display_name: 'Linear',
        metadata: { owner: 'me' },
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: 'https://mcp.linear.app/mcp',
          expires_at: new Date(expiresAt).toISOString(),
          refresh: { client_id: 'client-1', token_endpoint: 'https://auth.linear.app/token', token_endpoint_auth: { type: 'client_secret_basic' }, resource: null, scope: 'read write' },
        },
        created_at: credential.created_at,
        updated_at: credential.created_at,
        archived_at: null,
      });
      assert.deepEqual(await client.beta.vaults.credentials.retrieve(credential.id, { vault_id: vaultId }), credential);
    });

    it('[VAULT-2] static_bearer and environment_variable: shapes, injection_location defaults (omitted → both, given → omitted false)', async () => {
      const { client, vaultId } = await setup();
      const bearer = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/', token: canary('bearer') } });
      assert.deepEqual(bearer.auth, { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/' });
      assert.equal(bearer.display_name, null);
      assert.deepEqual(bearer.metadata, {});
      const both = await client.beta.vaults.credentials.create(vaultId, {
        auth: { type: 'environment_variable', secret_name: 'API_KEY', secret_value: canary('env'), networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org', '10.0.0.1'] } },
      });
      assert.deepEqual(both.auth, {
        type: 'environment_variable',
        secret_name: 'API_KEY',
        networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org', '10.0.0.1'] },
        injection_location: { header: true, body: true },
      });
      const headerOnly = await client.beta.vaults.credentials.create(vaultId, {
        auth: { type: 'environment_variable', secret_name: 'OTHER', secret_value: canary('env2'), networking: { type: 'unrestricted' }, injection_location: { header: true } },
      });
      assert.deepEqual((headerOnly.auth as { injection_location: unknown }).injection_location, { header: true, body: false });
      const page = await client.beta.vaults.credentials.list(vaultId);
      assert.deepEqual(page.data.map((credential) => credential.id), [headerOnly.id, both.id, bearer.id]);
      const first = await client.beta.vaults.credentials.list(vaultId, { limit: 1 });
      assert.equal(first.data.length, 1);
      assert.ok(first.hasNextPage());
    });

    it('[VAULT-2] bad credentials are a 400 that stores nothing', async () => {
      const { client, vaultId } = await setup();
      const secret = canary('invalid');
      const oauth = { type: 'mcp_oauth', mcp_server_url: 'https://mcp.example.com', access_token: secret };
      const env = { type: 'environment_variable', secret_name: 'K', secret_value: secret, networking: { type: 'unrestricted' } };
      const refresh = { refresh_token: secret, client_id: 'c', token_endpoint: 'https://auth.example.com/token', token_endpoint_auth: { type: 'none' } };
      const bad: unknown[] = [
        {},
        { auth: { type: 'password', token: secret } },
        { auth: { ...oauth, access_token: '' } },
        { auth: { ...oauth, mcp_server_url: 'not a url' } },
        { auth: { ...oauth, mcp_server_url: 'ftp://mcp.example.com' } },
        { auth: { ...oauth, expires_at: new Date(Date.now() - 60_000).toISOString() } },
        { auth: { ...oauth, expires_at: 'tomorrow' } },
        { auth: { ...oauth, refresh: { ...refresh, token_endpoint_auth: { type: 'client_secret_basic' } } } },
        { auth: { ...oauth, refresh: { ...refresh, token_endpoint_auth: { type: 'private_key_jwt' } } } },
        { auth: { ...oauth, extra: secret } },
        { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com' } },
        { auth: { ...env, secret_name: '1BAD' } },
        { auth: { ...env, secret_name: 'HAS SPACE' } },
        { auth: { ...env, networking: { type: 'limited', allowed_hosts: ['https://api.example.com'] } } },
        { auth: { ...env, networking: { type: 'limited', allowed_hosts: ['api.example.com:443'] } } },
        { auth: { ...env, networking: { type: 'limited', allowed_hosts: ['::1'] } } },
        { auth: { ...env, networking: { type: 'limited', allowed_hosts: Array.from({ length: 17 }, (_, i) => `h${i}.example.com`) } } },
        { auth: { ...env, injection_location: { header: false, body: false } } },
        { auth: { ...env, injection_location: {} } },
        { auth: env, display_name: 'x'.repeat(256) },
        { auth: env, metadata: { k: 'v'.repeat(513) } },
      ];
      for (const body of bad) {
        await assert.rejects(client.beta.vaults.credentials.create(vaultId, body as never), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, JSON.stringify(body).slice(0, 120));
          assert.equal((error.error as { error: { type: string } }).error.type, 'invalid_request_error');
          return true;
        });
      }
      // Malformed JSON that carries a secret: the parse error does not quote it.
      const response = await fetch(`${oma.url}/v1/vaults/${vaultId}/credentials`, {
        method: 'POST',
        headers: { 'x-api-key': (client as unknown as { apiKey: string }).apiKey, 'anthropic-beta': 'managed-agents-2026-04-01', 'content-type': 'application/json' },
        body: `{"auth": {"type": "static_bearer", "token": "${secret}", }`,
      });
      assert.equal(response.status, 400);
      oma.bodies.push(await response.text());
      assert.equal((await client.beta.vaults.credentials.list(vaultId, { include_archived: true })).data.length, 0);
      const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_credentials WHERE vault_id = $1', [vaultId]);
      assert.equal(rows[0]!.n, 0);
    });

    it('[VAULT-2] update: same type only, immutable fields refused (unchanged values accepted), secrets replaced, the rest merged', async () => {
      const { client, vaultId, workspaceId } = await setup();
      const params = { vault_id: vaultId };
      const oauth = await client.beta.vaults.credentials.create(vaultId, {
        display_name: 'named',
        metadata: { a: '1', b: '2' },
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: 'https://mcp.example.com/oauth',
          access_token: canary('old-access'),
          refresh: { refresh_token: canary('old-refresh'), client_id: 'cid', token_endpoint: 'https://auth.example.com/token', token_endpoint_auth: { type: 'none' }, scope: 's1' },
        },
      });
      const refusals: unknown[] = [
        { auth: { type: 'static_bearer', token: canary('wrong-type') } },
        { auth: { type: 'mcp_oauth', mcp_server_url: 'https://elsewhere.example.com' } },
        { auth: { type: 'mcp_oauth', refresh: { client_id: 'other' } } },
        { auth: { type: 'mcp_oauth', refresh: { token_endpoint: 'https://evil.example.com/token' } } },
        { auth: { type: 'mcp_oauth', refresh: { token_endpoint_auth: { type: 'client_secret_post' } } } }, // none → post needs a secret
        { auth: { type: 'mcp_oauth', expires_at: new Date(Date.now() - 1000).toISOString() } },
        { auth: { type: 'mcp_oauth', access_token: '' } },
        { display_name: 'x'.repeat(256) },
      ];
      for (const body of refusals) {
        await assert.rejects(client.beta.vaults.credentials.update(oauth.id, { ...params, ...(body as object) } as never), Anthropic.BadRequestError, JSON.stringify(body));
      }
      assert.deepEqual(await client.beta.vaults.credentials.retrieve(oauth.id, params), oauth, 'refused updates change nothing');

      const before = await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://mcp.example.com/oauth');
      const newAccess = canary('new-access');
      const expiresAt = future(7_200_000);
      const updated = await client.beta.vaults.credentials.update(oauth.id, {
        ...params,
        display_name: null,
        metadata: { a: null, c: '3' },
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: 'https://mcp.example.com/oauth', // unchanged: fine
          access_token: newAccess,
          expires_at: expiresAt,
          refresh: { scope: '', token_endpoint_auth: { type: 'client_secret_post', client_secret: canary('new-client-secret') } },
        } as never,
      });
      assert.equal(updated.display_name, null);
      assert.deepEqual(updated.metadata, { b: '2', c: '3' });
      assert.deepEqual(updated.auth, {
        type: 'mcp_oauth',
        mcp_server_url: 'https://mcp.example.com/oauth',
        expires_at: new Date(expiresAt).toISOString(),
        refresh: { client_id: 'cid', token_endpoint: 'https://auth.example.com/token', token_endpoint_auth: { type: 'client_secret_post' }, resource: null, scope: null },
      });
      const after = await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://mcp.example.com/oauth');
      assert.notEqual(before?.accessToken, newAccess);
      assert.equal(after?.accessToken, newAccess);
      assert.equal(after?.canRefresh, true, 'the refresh token was kept');

      const env = await client.beta.vaults.credentials.create(vaultId, {
        auth: { type: 'environment_variable', secret_name: 'TOKEN', secret_value: canary('env-old'), networking: { type: 'limited', allowed_hosts: ['a.example.com'] } },
      });
      await assert.rejects(client.beta.vaults.credentials.update(env.id, { ...params, auth: { type: 'environment_variable', secret_name: 'RENAMED' } as never }), Anthropic.BadRequestError);
      await assert.rejects(
        client.beta.vaults.credentials.update(env.id, { ...params, auth: { type: 'environment_variable', injection_location: { header: false, body: false } } }),
        Anthropic.BadRequestError,
      );
      const merged = await client.beta.vaults.credentials.update(env.id, {
        ...params,
        auth: { type: 'environment_variable', secret_value: canary('env-new'), networking: { type: 'unrestricted' }, injection_location: { body: false } },
      });
      assert.deepEqual(merged.auth, { type: 'environment_variable', secret_name: 'TOKEN', networking: { type: 'unrestricted' }, injection_location: { header: true, body: false } });
      await assert.rejects(client.beta.vaults.credentials.update(env.id, { ...params, auth: { type: 'environment_variable', injection_location: { header: false } } }), Anthropic.BadRequestError);

      const bearer = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://bearer.example.com', token: canary('bearer-old') } });
      const newToken = canary('bearer-new');
      const same = await client.beta.vaults.credentials.update(bearer.id, { ...params, auth: { type: 'static_bearer', token: newToken } });
      assert.deepEqual(same.auth, bearer.auth);
      assert.equal((await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://BEARER.example.com/'))?.accessToken, newToken);
      // A no-op update leaves updated_at alone.
      assert.deepEqual(await client.beta.vaults.credentials.update(bearer.id, { ...params, metadata: {} }), same);
    });

    it('[VAULT-2] duplicate mcp_server_url (after normalisation) or secret_name among active credentials is a 409; archiving frees it', async () => {
      const { client, vaultId } = await setup();
      const first = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/x', token: canary('dup1') } });
      await assert.rejects(
        client.beta.vaults.credentials.create(vaultId, { auth: { type: 'mcp_oauth', mcp_server_url: 'HTTPS://MCP.example.com/x/', access_token: canary('dup2') } }),
        (error: unknown) => error instanceof Anthropic.ConflictError && !error.message.includes('canary'),
      );
      await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'environment_variable', secret_name: 'DUP', secret_value: canary('dup3'), networking: { type: 'unrestricted' } } });
      await assert.rejects(
        client.beta.vaults.credentials.create(vaultId, { auth: { type: 'environment_variable', secret_name: 'DUP', secret_value: canary('dup4'), networking: { type: 'unrestricted' } } }),
        Anthropic.ConflictError,
      );
      const archived = await client.beta.vaults.credentials.archive(first.id, { vault_id: vaultId });
      assert.match(archived.archived_at ?? '', RFC3339_MS);
      assert.deepEqual(await client.beta.vaults.credentials.archive(first.id, { vault_id: vaultId }), archived);
      await assert.rejects(client.beta.vaults.credentials.update(first.id, { vault_id: vaultId, display_name: 'x' }), Anthropic.BadRequestError);
      const again = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/x', token: canary('dup5') } });
      const active = (await client.beta.vaults.credentials.list(vaultId)).data.map((credential) => credential.id);
      assert.ok(active.includes(again.id) && !active.includes(first.id));
      assert.ok((await client.beta.vaults.credentials.list(vaultId, { include_archived: true })).data.some((credential) => credential.id === first.id));
      assert.deepEqual(await client.beta.vaults.credentials.delete(first.id, { vault_id: vaultId }), { id: first.id, type: 'vault_credential_deleted' });
      await assert.rejects(client.beta.vaults.credentials.retrieve(first.id, { vault_id: vaultId }), Anthropic.NotFoundError);
    });

    it('[VAULT-2] at most 20 active credentials per vault; an archived vault takes none', async () => {
      const { client, vaultId } = await setup();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: `https://mcp${i}.example.com`, token: canary(`many${i}`) } }),
        ),
      );
      await assert.rejects(
        client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp21.example.com', token: canary('many21') } }),
        Anthropic.BadRequestError,
      );
      const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_credentials WHERE vault_id = $1', [vaultId]);
      assert.equal(rows[0]!.n, 20);
      const other = await client.beta.vaults.create({ display_name: 'archived' });
      await client.beta.vaults.archive(other.id);
      await assert.rejects(
        client.beta.vaults.credentials.create(other.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com', token: canary('archived-vault') } }),
        Anthropic.BadRequestError,
      );
    });

    it('[VAULT-3] the database holds no plaintext secret anywhere, and a sealed value moved to another row does not decrypt', async () => {
      const { client, vaultId, workspaceId } = await setup();
      const tokenA = canary('row-a');
      const tokenB = canary('row-b');
      const a = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://a.example.com', token: tokenA } });
      const b = await client.beta.vaults.credentials.create(vaultId, { auth: { type: 'static_bearer', mcp_server_url: 'https://b.example.com', token: tokenB } });
      assert.match((await rawRow(a.id)).secret, /^v1\./);
      // Every table, every row, as text.
      const { rows: tables } = await oma.db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
      );
      assert.ok(tables.some((table) => table.table_name === 'vault_credentials'));
      for (const { table_name } of tables) {
        const { rows } = await oma.db.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t`);
        assert.equal(findLeak(rows.map((row) => row.row), canaries), undefined, table_name);
      }
      assert.equal((await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://b.example.com'))?.accessToken, tokenB);
      // Move A's sealed secret onto B: B must not open it, so A's token cannot be used through B.
      await oma.db.query('UPDATE vault_credentials SET secret = (SELECT secret FROM vault_credentials WHERE id = $1) WHERE id = $2', [a.id, b.id]);
      await assert.rejects(findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://b.example.com'), (error: Error) => !error.message.includes(tokenA));
      assert.equal((await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vaultId], 'https://a.example.com'))?.accessToken, tokenA);
      // Through the API, the row that holds a moved value is a 500 that names only the credential.
      const bodies = oma.bodies.length;
      await assert.rejects(client.beta.vaults.credentials.update(b.id, { vault_id: vaultId, auth: { type: 'static_bearer', token: canary('row-b-new') } }), Anthropic.InternalServerError);
      assert.equal(findLeak(oma.bodies.slice(bodies), [tokenA, tokenB]), undefined);
    });

    it('[VAULT-2] no planted secret appears in any response body or log line of any route', async () => {
      assert.ok(canaries.length > 20);
      assert.ok(oma.bodies.length > 50);
      assert.equal(findLeak(oma.bodies, canaries), undefined);
      assert.equal(findLeak(oma.logs, canaries), undefined);
    });

    it('[VAULT-2] credentials of an unknown vault, or unknown ids, are 404 not_found_error', async () => {
      const { client, vaultId } = await setup();
      const missing = 'vcrd_1111111111111111111111';
      await assert.rejects(client.beta.vaults.credentials.retrieve(missing, { vault_id: vaultId }), Anthropic.NotFoundError);
      await assert.rejects(client.beta.vaults.credentials.delete(missing, { vault_id: vaultId }), Anthropic.NotFoundError);
      await assert.rejects(client.beta.vaults.credentials.list('vlt_1111111111111111111111'), Anthropic.NotFoundError);
      const listed: BetaManagedAgentsCredential[] = (await client.beta.vaults.credentials.list(vaultId)).data;
      assert.deepEqual(listed, []);
    });
  });
}
