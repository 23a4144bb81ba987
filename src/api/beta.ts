import type { MiddlewareHandler } from 'hono';
import { OmaError } from '../errors.ts';
import type { AppEnv } from './http.ts';

export const MANAGED_AGENTS_BETA = 'managed-agents-2026-04-01';

/**
 * Managed Agents routes need their beta in `anthropic-beta` (comma-separated; the SDK always sends
 * it). Spec §1.2 ⚠, recommended choice: a missing beta is a 400 naming the header, as the hosted API's
 * thread routes do.
 */
export function requireBeta(beta: string = MANAGED_AGENTS_BETA): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const betas = (c.req.header('anthropic-beta') ?? '').split(',').map((value) => value.trim());
    if (!betas.includes(beta)) {
      throw new OmaError('invalid_request', `this route needs the header "anthropic-beta: ${beta}" (the official SDK sends it)`);
    }
    await next();
  };
}
