import { Hono } from 'hono';
import type { KeyCache } from '../api/auth.ts';
import type { AppEnv } from '../api/http.ts';
import type { Db } from '../db/interface.ts';
import { createEnvironmentKey, listEnvironmentKeys, revokeEnvironmentKey } from './keys.ts';

/**
 * `/oma/v1/environments/{environment_id}/keys…`: mint, list and revoke environment keys. Mounted among
 * the admin routes (admin API key only); the environment may be in any workspace, as with `oma keys`.
 */
export function environmentKeyRoutes(db: Db, keys: KeyCache): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post('/:environment_id/keys', async (c) => c.json(await createEnvironmentKey(db, c.req.param('environment_id'))));
  routes.get('/:environment_id/keys', async (c) => c.json({ data: await listEnvironmentKeys(db, c.req.param('environment_id')) }));
  routes.post('/:environment_id/keys/:id/revoke', async (c) => {
    const revoked = await revokeEnvironmentKey(db, c.req.param('environment_id'), c.req.param('id'));
    keys.forget(revoked.id);
    return c.json(revoked);
  });
  return routes;
}
