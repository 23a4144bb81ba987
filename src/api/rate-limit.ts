import type { MiddlewareHandler } from 'hono';
import type { Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import type { AppEnv } from './http.ts';

/**
 * Per-workspace request rate limits: "create" requests (POST, DELETE) and "read" requests (GET), each
 * so many per minute. Defaults are ten times the hosted service's (600 create, 6,000 read); a workspace
 * may have its own (`oma workspaces limits`), and 0 turns a limit off. Over the limit: 429
 * `rate_limit_error` with `retry-after` (seconds) and `retry-after-ms`, which the SDK honours.
 *
 * Token buckets per process: with several oma processes behind a balancer each enforces the limit on
 * its own share of the traffic.
 */

export interface RateLimits {
  createPerMinute: number;
  readPerMinute: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const LIMITS_TTL_MS = 5_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limits = new Map<string, { limits: RateLimits; fetchedAt: number }>();

  constructor(
    private readonly db: Queryable,
    private readonly defaults: RateLimits,
  ) {}

  /** The workspace's limits, cached for a few seconds so a request costs no query. */
  private async limitsOf(workspaceId: string): Promise<RateLimits> {
    const cached = this.limits.get(workspaceId);
    if (cached && Date.now() - cached.fetchedAt < LIMITS_TTL_MS) return cached.limits;
    const { rows } = await this.db.query<{ create: number | null; read: number | null }>(
      'SELECT rate_limit_create_per_minute AS create, rate_limit_read_per_minute AS read FROM workspaces WHERE id = $1',
      [workspaceId],
    );
    const limits = {
      createPerMinute: rows[0]?.create ?? this.defaults.createPerMinute,
      readPerMinute: rows[0]?.read ?? this.defaults.readPerMinute,
    };
    this.limits.set(workspaceId, { limits, fetchedAt: Date.now() });
    return limits;
  }

  /** Take one token, or say how long until one is available. */
  async take(workspaceId: string, kind: 'create' | 'read'): Promise<{ ok: true } | { ok: false; retryAfterMs: number }> {
    const limits = await this.limitsOf(workspaceId);
    const perMinute = kind === 'create' ? limits.createPerMinute : limits.readPerMinute;
    if (perMinute === 0) return { ok: true };
    const key = `${workspaceId}:${kind}`;
    const now = Date.now();
    const perMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, updatedAt: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.updatedAt) * perMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / perMs) };
  }

  /** Forget cached limits (after an operator changed them). */
  invalidate(workspaceId?: string) {
    if (workspaceId) this.limits.delete(workspaceId);
    else this.limits.clear();
  }
}

export function rateLimit(limiter: RateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const kind = c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : 'create';
    const result = await limiter.take(c.get('principal').workspaceId, kind);
    if (!result.ok) {
      c.header('retry-after', String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
      c.header('retry-after-ms', String(result.retryAfterMs));
      throw new OmaError('rate_limited', `rate limit of ${kind} requests for this workspace exceeded; retry in ${result.retryAfterMs} ms`);
    }
    await next();
  };
}
