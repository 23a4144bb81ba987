import { Hono } from 'hono';
import { z } from 'zod';
import { createKey, listKeys, revokeKey, setWorkspaceLimits } from '../auth/keys.ts';
import type { KeyCache } from './auth.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Db } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { jsonBody, type AppEnv } from './http.ts';
import { environmentKeyRoutes } from '../work/admin-routes.ts';

const perMinute = z.number().int().min(0).nullable().optional();
const WorkspaceLimitsBody = z.strictObject({ create_per_minute: perMinute, read_per_minute: perMinute });

const CreateKeyBody = z.strictObject({
  workspace: z.string().optional(),
  name: z.string().optional(),
  admin: z.boolean().optional(),
});

/**
 * oma's own administration routes (not part of the Anthropic surface), under `/oma/v1`. Only admin
 * keys (the operator's `OMA_API_KEY`, or keys created with `--admin`) may use them. `oma keys …`
 * calls these when a running server holds the embedded database.
 */
export function adminRoutes(db: Db, limiter: RateLimiter, keys: KeyCache): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use(async (c, next) => {
    if (!c.get('principal').admin) throw new OmaError('permission_denied', 'this route needs an admin API key');
    await next();
  });
  routes.post('/keys', async (c) => c.json(await createKey(db, await jsonBody(c, CreateKeyBody))));
  routes.get('/keys', async (c) => c.json({ data: await listKeys(db, { workspace: c.req.query('workspace') }) }));
  routes.post('/keys/:id/revoke', async (c) => {
    const revoked = await revokeKey(db, c.req.param('id'));
    keys.forget(revoked.id);
    return c.json(revoked);
  });
  routes.route('/environments', environmentKeyRoutes(db, keys));
  routes.post('/workspaces/:name/limits', async (c) => {
    const body = await jsonBody(c, WorkspaceLimitsBody);
    const workspace = await setWorkspaceLimits(db, c.req.param('name'), body);
    limiter.invalidate(workspace.id);
    return c.json(workspace);
  });
  return routes;
}
