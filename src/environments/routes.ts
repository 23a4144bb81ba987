import { Hono, type Context } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { pageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { CreateBody, UpdateBody } from './params.ts';
import { archiveEnvironment, createEnvironment, deleteEnvironment, getEnvironment, listEnvironments, updateEnvironment } from './store.ts';

/**
 * `/v1/environments` (spec api-core.md §3.1–3.5; the self-hosted work routes of §3.6 are not here).
 * Every route acts in the caller's workspace only.
 */
export function environmentRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { db } = deps;
  const routes = new Hono<AppEnv>();
  const workspace = (c: Context<AppEnv>) => c.get('principal').workspaceId;

  routes.post('/', async (c) => c.json(await createEnvironment(db, workspace(c), await jsonBody(c, CreateBody))));

  routes.get('/', async (c) => {
    const query = new Query(c);
    // ⚠ spec §1.6/§10: default 20, max 1000, newest first.
    const page = pageRequest(query, { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'desc' });
    return c.json(await listEnvironments(db, workspace(c), { page, includeArchived: query.boolean('include_archived') ?? false }));
  });

  routes.get('/:id', async (c) => c.json(await getEnvironment(db, workspace(c), c.req.param('id'))));

  routes.post('/:id', async (c) => c.json(await updateEnvironment(db, workspace(c), c.req.param('id'), await jsonBody(c, UpdateBody))));

  routes.post('/:id/archive', async (c) => c.json(await archiveEnvironment(db, workspace(c), c.req.param('id'))));

  routes.delete('/:id', async (c) => c.json(await deleteEnvironment(db, workspace(c), c.req.param('id'))));

  return routes;
}
