import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { pageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { CreateAgentBody, UpdateAgentBody } from './schema.ts';
import { archiveAgent, createAgent, getAgent, listAgents, listVersions, updateAgent } from './store.ts';

/**
 * `/v1/agents` (spec §2.1): create, retrieve (`?version=N`), update (every change a new immutable
 * version), list, archive, and the version history. Lists are `PageCursor`s, newest first,
 * default limit 20, at most 1000 (spec §1.6 ⚠).
 */
export function agentRoutes({ db }: ApiDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const workspace = (c: Context<AppEnv>) => c.get('principal').workspaceId;
  const page = (query: Query, keyType: 'string' | 'number' = 'string') => pageRequest(query, { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'desc', keyType });

  routes.post('/', async (c) => c.json(await createAgent(db, workspace(c), await jsonBody(c, CreateAgentBody))));

  routes.get('/', async (c) => {
    const query = new Query(c);
    return c.json(
      await listAgents(db, workspace(c), {
        page: page(query),
        includeArchived: query.boolean('include_archived') ?? false,
        createdAtGte: query.timestamp('created_at[gte]'),
        createdAtLte: query.timestamp('created_at[lte]'),
      }),
    );
  });

  routes.get('/:id', async (c) => {
    const version = new Query(c).integer('version', { min: 1, max: 2_147_483_647 });
    return c.json(await getAgent(db, workspace(c), c.req.param('id'), version));
  });

  routes.post('/:id', async (c) => c.json(await updateAgent(db, workspace(c), c.req.param('id'), await jsonBody(c, UpdateAgentBody))));

  routes.post('/:id/archive', async (c) => {
    await jsonBody(c, z.strictObject({}));
    return c.json(await archiveAgent(db, workspace(c), c.req.param('id')));
  });

  routes.get('/:id/versions', async (c) => c.json(await listVersions(db, workspace(c), c.req.param('id'), page(new Query(c), 'number'))));

  return routes;
}
