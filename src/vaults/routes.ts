import { Hono, type Context } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { pageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { archiveCredential, createCredential, deleteCredential, getCredential, listCredentials, updateCredential } from './credentials.ts';
import { CredentialCreateBody, CredentialUpdateBody, VaultCreateBody, VaultUpdateBody } from './params.ts';
import { archiveVault, createVault, deleteVault, getVault, listVaults, updateVault } from './store.ts';
import { validateMcpOAuth } from './validate.ts';

/**
 * `/v1/vaults` and `/v1/vaults/{vault_id}/credentials` (spec hands-and-credentials §8.1). Every route
 * acts in the caller's workspace only.
 */

export function vaultRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { db } = deps;
  const routes = new Hono<AppEnv>();
  const workspace = (c: Context<AppEnv>) => c.get('principal').workspaceId;
  const listOptions = (c: Context<AppEnv>) => {
    const query = new Query(c);
    // ⚠ spec leaves the paging open: as environments, default 20, max 1000, newest first.
    return { page: pageRequest(query, { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'desc' }), includeArchived: query.boolean('include_archived') ?? false };
  };

  routes.post('/', async (c) => c.json(await createVault(db, workspace(c), await jsonBody(c, VaultCreateBody))));
  routes.get('/', async (c) => c.json(await listVaults(db, workspace(c), listOptions(c))));
  routes.get('/:vault_id', async (c) => c.json(await getVault(db, workspace(c), c.req.param('vault_id'))));
  routes.post('/:vault_id', async (c) => c.json(await updateVault(db, workspace(c), c.req.param('vault_id'), await jsonBody(c, VaultUpdateBody))));
  routes.post('/:vault_id/archive', async (c) => c.json(await archiveVault(db, workspace(c), c.req.param('vault_id'))));
  routes.delete('/:vault_id', async (c) => c.json(await deleteVault(db, workspace(c), c.req.param('vault_id'))));

  const credentials = '/:vault_id/credentials';
  routes.post(credentials, async (c) =>
    c.json(await createCredential(db, deps.secrets, workspace(c), c.req.param('vault_id'), await jsonBody(c, CredentialCreateBody))),
  );
  routes.get(credentials, async (c) => c.json(await listCredentials(db, workspace(c), c.req.param('vault_id'), listOptions(c))));
  routes.get(`${credentials}/:credential_id`, async (c) => c.json(await getCredential(db, workspace(c), c.req.param('vault_id'), c.req.param('credential_id'))));
  routes.post(`${credentials}/:credential_id`, async (c) => {
    const body = await jsonBody(c, CredentialUpdateBody);
    return c.json(await updateCredential(db, deps.secrets, workspace(c), c.req.param('vault_id'), c.req.param('credential_id'), body));
  });
  routes.post(`${credentials}/:credential_id/archive`, async (c) =>
    c.json(await archiveCredential(db, workspace(c), c.req.param('vault_id'), c.req.param('credential_id'))),
  );
  routes.delete(`${credentials}/:credential_id`, async (c) => c.json(await deleteCredential(db, workspace(c), c.req.param('vault_id'), c.req.param('credential_id'))));
  routes.post(`${credentials}/:credential_id/mcp_oauth_validate`, async (c) =>
    c.json(await validateMcpOAuth(db, deps.secrets, workspace(c), c.req.param('vault_id'), c.req.param('credential_id'))),
  );

  return routes;
}
