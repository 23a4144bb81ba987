import type { MiddlewareHandler } from 'hono';
import { authenticate, type Principal } from '../auth/keys.ts';
import type { Db } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { authenticateWorkerCredential } from '../work/scope.ts';
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

/**
 * Valid keys, remembered for a moment so that a request costs no lookup. Revocation through this
 * process forgets at once; a revocation made elsewhere (another oma process, `oma keys revoke` on a
 * shared PostgreSQL) takes effect within `ttlMs`. Unknown keys and sessions tokens are never remembered.
 */
export class KeyCache {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly ttlMs = 2_000) {}

  async lookup(db: Db, key: string): Promise<Principal | undefined> {
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.principal;
    const principal = (await authenticate(db, key)) ?? (await authenticateWorkerCredential(db, key));
    // A sessions token dies with its item's stop or re-offer: never remembered, always looked up.
    if (principal && principal.scope?.kind !== 'work') {
      if (this.entries.size > 10_000) this.entries.clear();
      this.entries.set(key, { principal, until: Date.now() + this.ttlMs });
    } else {
      this.entries.delete(key);
    }
    return principal;
  }

  /** Forget a key by id (after revoking it). */
  forget(keyId: string) {
    for (const [key, entry] of this.entries) if (entry.principal.keyId === keyId) this.entries.delete(key);
  }
}

export function authenticateRequest(db: Db, cache: KeyCache): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = presentedKey(c.req);
    if (!key) {
      throw new OmaError('unauthenticated', 'missing API key: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"');
    }
    const principal = await cache.lookup(db, key);
    if (!principal) throw new OmaError('unauthenticated', 'invalid API key');
    c.set('principal', principal);
    await next();
  };
}
