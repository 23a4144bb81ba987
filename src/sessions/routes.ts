import { Hono } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';

/** `/v1/sessions` routes. Not served yet: see the API issue. */
export function sessionRoutes(_deps: ApiDeps): Hono<AppEnv> {
  return new Hono<AppEnv>();
}
