import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { agentRoutes } from '../agents/routes.ts';
import { environmentRoutes } from '../environments/routes.ts';
import { OmaError } from '../errors.ts';
import { fileRoutes } from '../files/routes.ts';
import { sessionRoutes } from '../sessions/routes.ts';
import { vaultRoutes } from '../vaults/routes.ts';
import { workRoutes } from '../work/routes.ts';
import { scopeGuard } from '../work/scope.ts';
import { adminRoutes } from './admin.ts';
import { authenticateRequest, KeyCache } from './auth.ts';
import { rateLimit, RateLimiter } from './rate-limit.ts';
import { requireBeta } from './beta.ts';
import type { ApiDeps } from './deps.ts';
import { errorResponse, requestIds, type AppEnv } from './http.ts';

/**
 * The HTTP surface: every response carries a `request-id`, every failure is an Anthropic-style error
 * body, and everything under `/v1/` and `/oma/` needs an API key.
 */
export function createApp(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestIds(deps.logger));
  app.onError((error, c) => {
    if (!(error instanceof OmaError) || error.status >= 500) {
      deps.logger?.error({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'request failed');
    }
    return errorResponse(c, error);
  });

  app.notFound((c) => errorResponse(c, new OmaError('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  // File uploads have their own, larger limit (OMA_MAX_FILE_BYTES), enforced while streaming.
  const globalLimit = bodyLimit({
    maxSize: deps.maxBodyBytes,
    // The unread rest of the body would poison a kept-alive connection: close it.
    onError: (c) => {
      c.header('connection', 'close');
      return errorResponse(c as never, new OmaError('request_too_large', `request body is larger than the limit of ${deps.maxBodyBytes} bytes`));
    },
  });
  app.use((c, next) => (c.req.method === 'POST' && c.req.path === '/v1/files' ? next() : globalLimit(c, next)));

  app.get('/healthz', async (c) => {
    try {
      await deps.db.query('SELECT 1');
    } catch (error) {
      throw new OmaError('unavailable', 'the database is not reachable', { cause: error });
    }
    return c.json({ status: 'ok' });
  });

  const limiter = new RateLimiter(deps.db, deps.rateLimits);
  const keys = new KeyCache();
  // Environment keys and sessions tokens (worker hosts) are held to their few routes by scopeGuard.
  app.use('/v1/*', authenticateRequest(deps.db, keys), scopeGuard(deps.db), rateLimit(limiter));
  app.use('/oma/*', authenticateRequest(deps.db, keys), scopeGuard(deps.db));
  app.route('/oma/v1', adminRoutes(deps.db, limiter, keys));

  // The Managed Agents surface (spec/api-core.md). Files are a general beta: the SDK sends no
  // managed-agents beta header there.
  for (const prefix of ['/v1/agents/*', '/v1/environments/*', '/v1/sessions/*', '/v1/vaults/*']) app.use(prefix, requireBeta());
  app.route('/v1/agents', agentRoutes(deps));
  app.route('/v1/environments', workRoutes(deps));
  app.route('/v1/environments', environmentRoutes(deps));
  app.route('/v1/sessions', sessionRoutes(deps));
  app.route('/v1/vaults', vaultRoutes(deps));
  app.route('/v1/files', fileRoutes(deps));

  return app;
}
