import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { CredentialRefreshError, findMcpCredential, refreshMcpCredential } from '../../src/vaults/use.ts';
import { findLeak, startOAuthFixture, startVaultOma, type OAuthFixture, type VaultOma } from './helpers.ts';

/** mcp_oauth_validate (spec §8.2) and the brain's refresh, against a real MCP server and token endpoint on 127.0.0.1. */

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
let counter = 0;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`mcp_oauth on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: VaultOma;
    const fixtures: OAuthFixture[] = [];
    before(async () => {
      oma = await startVaultOma(storage);
    });
    after(async () => {
      await Promise.all(fixtures.map((fixture) => fixture.close()));
      await oma?.dispose();
    });

    /** A vault in a workspace of its own, a fixture, and an mcp_oauth credential for it. */
    const setup = async (options: { clientAuth?: OAuthFixture['clientAuth']; refresh?: boolean; accessToken?: string; mcpUrl?: string; tokenUrl?: string } = {}) => {
      const fixture = await startOAuthFixture(`${storage}-${++counter}`);
      fixtures.push(fixture);
      fixture.clientAuth = options.clientAuth ?? 'client_secret_basic';
      const { key, workspace_id: workspaceId } = await createKey(oma.db, { workspace: `oauth-${storage}-${counter}` });
      const client = oma.clientFor(key);
      const vault = await client.beta.vaults.create({ display_name: 'oauth' });
      const tokenEndpointAuth =
        fixture.clientAuth === 'none' ? { type: 'none' as const } : { type: fixture.clientAuth, client_secret: fixture.clientSecret };
      const credential = await client.beta.vaults.credentials.create(vault.id, {
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: options.mcpUrl ?? fixture.mcpUrl,
          access_token: options.accessToken ?? fixture.accessToken,
          refresh:
            options.refresh === false
              ? null
              : { refresh_token: fixture.refreshToken, client_id: fixture.clientId, token_endpoint: options.tokenUrl ?? fixture.tokenUrl, token_endpoint_auth: tokenEndpointAuth, scope: 'mcp:read', resource: fixture.mcpUrl },
        },
      });
      const validate = () => client.beta.vaults.credentials.mcpOAuthValidate(credential.id, { vault_id: vault.id });
      const current = async () => (await findMcpCredential(oma.db, oma.secrets!, workspaceId, [vault.id], options.mcpUrl ?? fixture.mcpUrl))!;
      return { fixture, client, vault, credential, validate, current, workspaceId };
    };

    it('[VAULT-6] a token the MCP server accepts is valid; nothing else is reported', async () => {
      const { validate, credential, vault } = await setup();
      const result = await validate();
      assert.match(result.validated_at, RFC3339_MS);
      assert.deepEqual(result, {
        type: 'vault_credential_validation',
        credential_id: credential.id,
        vault_id: vault.id,
        status: 'valid',
        has_refresh_token: true,
        validated_at: result.validated_at,
        mcp_probe: null,
        refresh: null,
      });
    });

    it('[VAULT-6] a rejected token without refresh is invalid, with the probe answer scrubbed of the token', async () => {
      const { validate } = await setup({ refresh: false, accessToken: `canary-stale-${storage}-${counter}` });
      const result = await validate();
      assert.equal(result.status, 'invalid');
      assert.equal(result.has_refresh_token, false);
      assert.equal(result.mcp_probe?.method, 'initialize');
      assert.equal(result.mcp_probe?.http_response?.status_code, 401);
      assert.match(result.mcp_probe?.http_response?.content_type ?? '', /application\/json/);
      assert.equal(result.mcp_probe?.http_response?.body_truncated, false);
      assert.match(result.mcp_probe?.http_response?.body ?? '', /invalid_token/);
      assert.ok(!result.mcp_probe?.http_response?.body.includes('canary-stale'), 'the echoed bearer is scrubbed');
      assert.deepEqual(result.refresh, { status: 'no_refresh_token', http_response: null });
    });

    it('[VAULT-6] a 401 with refresh configured: one refresh exchange, stored rotated and sealed; unknown until the next probe says valid', async () => {
      const { fixture, validate, client, credential, vault, current } = await setup({ accessToken: `canary-expired-${storage}-${counter}` });
      const result = await validate();
      assert.equal(result.status, 'unknown');
      assert.equal(result.has_refresh_token, true);
      assert.equal(result.mcp_probe?.http_response?.status_code, 401);
      assert.equal(result.refresh?.status, 'succeeded');
      assert.equal(result.refresh?.http_response?.status_code, 200);
      assert.match(result.refresh?.http_response?.body ?? '', /expires_in/);
      assert.equal(fixture.tokenRequests.length, 1);
      assert.equal((await current()).accessToken, fixture.accessToken);
      const stored = await client.beta.vaults.credentials.retrieve(credential.id, { vault_id: vault.id });
      const expiresAt = Date.parse((stored.auth as { expires_at: string }).expires_at);
      assert.ok(Math.abs(expiresAt - (Date.now() + 3_600_000)) < 60_000, 'expires_at = now + expires_in');
      const again = await validate();
      assert.equal(again.status, 'valid');
      assert.equal(fixture.tokenRequests.length, 1);
      assert.equal(findLeak(JSON.stringify([result, again]).split('\n'), fixture.issued), undefined);
    });

    it('[VAULT-6] a refused refresh is invalid with the token endpoint answer scrubbed; unreachable servers are unknown', async () => {
      const refused = await setup({ accessToken: `canary-expired2-${storage}-${counter}` });
      refused.fixture.refreshToken = 'something-else'; // the stored refresh token is no longer accepted
      const result = await refused.validate();
      assert.equal(result.status, 'invalid');
      assert.equal(result.refresh?.status, 'failed');
      assert.equal(result.refresh?.http_response?.status_code, 400);
      assert.match(result.refresh?.http_response?.body ?? '', /invalid_grant/);
      assert.equal(findLeak([JSON.stringify(result)], refused.fixture.issued), undefined);

      const down = `http://127.0.0.1:${await closedPort()}`;
      const noServer = await setup({ mcpUrl: `${down}/mcp` });
      const unreachable = await noServer.validate();
      assert.equal(unreachable.status, 'unknown');
      assert.deepEqual(unreachable.mcp_probe, { method: 'initialize', http_response: null });
      assert.equal(unreachable.refresh, null);

      const noTokenEndpoint = await setup({ accessToken: `canary-expired3-${storage}-${counter}`, tokenUrl: `${down}/token` });
      const connectError = await noTokenEndpoint.validate();
      assert.equal(connectError.status, 'unknown');
      assert.deepEqual(connectError.refresh, { status: 'connect_error', http_response: null });
    });

    it('[VAULT-6] only mcp_oauth credentials can be validated', async () => {
      const { client, vault } = await setup();
      const bearer = await client.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://bearer.example.com', token: `canary-bearer-${storage}` } });
      await assert.rejects(client.beta.vaults.credentials.mcpOAuthValidate(bearer.id, { vault_id: vault.id }), Anthropic.BadRequestError);
    });

    for (const clientAuth of ['client_secret_basic', 'client_secret_post', 'none'] as const) {
      it(`[VAULT-6] refreshMcpCredential with ${clientAuth}: client authentication as configured, scope and resource sent, rotated tokens stored`, async () => {
        const { fixture, current } = await setup({ clientAuth, accessToken: `canary-old-${storage}-${clientAuth}` });
        const stale = await current();
        assert.equal(stale.canRefresh, true);
        const oldRefresh = fixture.refreshToken;
        const fresh = await refreshMcpCredential(oma.db, oma.secrets!, stale);
        assert.equal(fresh.accessToken, fixture.accessToken);
        assert.ok(fresh.expiresAt && fresh.expiresAt.getTime() > Date.now());
        assert.equal(fixture.tokenRequests.length, 1);
        const [request] = fixture.tokenRequests;
        assert.equal(request!.form.grant_type, 'refresh_token');
        assert.equal(request!.form.refresh_token, oldRefresh);
        assert.equal(request!.form.scope, 'mcp:read');
        assert.equal(request!.form.resource, fixture.mcpUrl);
        if (clientAuth === 'client_secret_basic') {
          assert.match(request!.authorization ?? '', /^Basic /);
          assert.equal(request!.form.client_secret, undefined);
        } else {
          assert.equal(request!.authorization, undefined);
          assert.equal(request!.form.client_id, fixture.clientId);
          assert.equal(request!.form.client_secret, clientAuth === 'client_secret_post' ? fixture.clientSecret : undefined);
        }
        // The rotated refresh token was stored: a second refresh uses it.
        const rotated = fixture.refreshToken;
        assert.notEqual(rotated, oldRefresh);
        const second = await refreshMcpCredential(oma.db, oma.secrets!, fresh);
        assert.equal(fixture.tokenRequests.length, 2);
        assert.equal(fixture.tokenRequests[1]!.form.refresh_token, rotated);
        assert.equal((await current()).accessToken, second.accessToken);
      });
    }

    it('[VAULT-6] concurrent refreshes of one credential make one token request and all get the new token', async () => {
      const { fixture, current } = await setup({ accessToken: `canary-concurrent-${storage}` });
      fixture.tokenDelayMs = 300;
      const stale = await current();
      const results = await Promise.all(Array.from({ length: 5 }, () => refreshMcpCredential(oma.db, oma.secrets!, stale)));
      assert.equal(fixture.tokenRequests.length, 1);
      for (const result of results) assert.equal(result.accessToken, fixture.accessToken);
    });

    it('[VAULT-6] a refresh that is refused or impossible throws CredentialRefreshError without secrets', async () => {
      const { fixture, current } = await setup({ accessToken: `canary-refused-${storage}` });
      const secretRefresh = fixture.refreshToken;
      fixture.refreshToken = 'not-the-stored-one';
      const stale = await current();
      await assert.rejects(refreshMcpCredential(oma.db, oma.secrets!, stale), (error: Error) => {
        assert.ok(error instanceof CredentialRefreshError);
        assert.match(error.message, /400/);
        assert.equal(findLeak([error.message], [secretRefresh, stale.accessToken, fixture.clientSecret]), undefined);
        return true;
      });
      const none = await setup({ refresh: false, accessToken: `canary-norefresh-${storage}` });
      const without = await none.current();
      assert.equal(without.canRefresh, false);
      await assert.rejects(refreshMcpCredential(oma.db, oma.secrets!, without), CredentialRefreshError);
    });

    it('[VAULT-6] no token, refresh token or client secret appears in any response body or log line', async () => {
      assert.ok(oma.bodies.length > 20);
      const secrets = fixtures.flatMap((fixture) => fixture.issued).concat([`canary-bearer-${storage}`]);
      assert.equal(findLeak(oma.bodies, secrets), undefined);
      assert.equal(findLeak(oma.logs, secrets), undefined);
    });
  });
}
