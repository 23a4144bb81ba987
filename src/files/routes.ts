import { Hono } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';

/** `/v1/files` routes. Not served yet: see the API issue. */
export function fileRoutes(_deps: ApiDeps): Hono<AppEnv> {
  return new Hono<AppEnv>();
}
