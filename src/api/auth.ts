import type { MiddlewareHandler } from 'hono';
import { authenticate } from '../auth/keys.ts';
import type { Db } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import type { AppEnv } from './http.ts';

/**
 * The API key from `Authorization: Bearer <key>` (SDK 1.x) or `x-api-key` (SDK 0.x, curl examples).
 * Any `anthropic-version` is accepted: the SDKs send `2026-10-21` or `2023-06-01`.
 */
export function presentedKey(headers: { header(name: string): string | undefined }): string | undefined {
  const authorization = headers.header('authorization');
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? (headers.header('x-api-key')?.trim() || undefined);
}

export function authenticateRequest(db: Db): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = presentedKey(c.req);
    if (!key) {
      throw new OmaError('unauthenticated', 'missing API key: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"');
    }
    const principal = await authenticate(db, key);
    if (!principal) throw new OmaError('unauthenticated', 'invalid API key');
    c.set('principal', principal);
    await next();
  };
}
