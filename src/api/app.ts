import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { adminRoutes } from './admin.ts';
import { authenticateRequest } from './auth.ts';
import { errorResponse, requestIds, type AppEnv } from './http.ts';

export interface AppDependencies {
  db: Db;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  logger?: Logger;
}

/**
 * The HTTP surface: every response carries a `request-id`, every failure is an Anthropic-style error
 * body, and everything under `/v1/` and `/oma/` needs an API key.
 */
export function createApp(deps: AppDependencies): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestIds(deps.logger));
  app.onError((error, c) => {
    if (!(error instanceof OmaError) || error.status >= 500) {
      deps.logger?.error({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'request failed');
    }
    return errorResponse(c, error);
  });

  app.notFound((c) => errorResponse(c, new OmaError('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  app.use(
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: (c) =>
        errorResponse(c as never, new OmaError('request_too_large', `request body is larger than the limit of ${deps.maxBodyBytes} bytes`)),
    }),
  );

  app.get('/healthz', async (c) => {
    try {
      await deps.db.query('SELECT 1');
    } catch (error) {
      throw new OmaError('unavailable', 'the database is not reachable', { cause: error });
    }
    return c.json({ status: 'ok' });
  });

  app.use('/v1/*', authenticateRequest(deps.db));
  app.use('/oma/*', authenticateRequest(deps.db));
  app.route('/oma/v1', adminRoutes(deps.db));

  return app;
}
