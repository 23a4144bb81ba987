import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Principal } from '../auth/keys.ts';
import { errorBody, OmaError, toOmaError } from '../errors.ts';
import { newId } from '../ids.ts';

/** Hono environment shared by every route. */
export type AppEnv = { Variables: { requestId: string; principal: Principal } };

/** Give every request a `req_…` id, sent back as the `request-id` header (the SDK's `requestID`). */
export function requestIds(logger?: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = newId('req');
    c.set('requestId', requestId);
    c.header('request-id', requestId);
    const started = performance.now();
    await next();
    logger?.debug({ requestId, method: c.req.method, path: c.req.path, status: c.res.status, ms: performance.now() - started }, 'request');
  };
}

/** The Anthropic error response for any thrown value. */
export function errorResponse(c: Context<AppEnv>, thrown: unknown): Response {
  const error = toOmaError(thrown);
  const headers: Record<string, string> = {};
  // The SDK retries 408/409/429/5xx, POSTs included; say so explicitly either way.
  if (error.status === 409 || error.status === 429 || error.status >= 500) headers['x-should-retry'] = String(error.retryable);
  return c.json(errorBody(error, c.get('requestId')), error.status as 400, headers);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : 'body';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * The request body parsed as JSON and checked against `schema`. A body-less request reads as `{}`
 * (state-change POSTs are sent without one). Malformed JSON or a schema mismatch is a 400 that says
 * what is wrong.
 */
export async function jsonBody<Schema extends z.ZodType>(c: Context<AppEnv>, schema: Schema): Promise<z.infer<Schema>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim().length > 0) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      // Only where: V8's message quotes a piece of the body, which may be a secret (a token, a credential).
      const position = /position (\d+)/.exec((error as Error).message)?.[1];
      throw new OmaError('invalid_request', `request body is not valid JSON${position ? ` (at position ${position})` : ''}`);
    }
  }
  // Cheap precheck on the raw text; walk the value only when an escape that might matter is there.
  if (/\\u0000|\\u[dD][89a-fA-F]/.test(text)) assertStorable(value, 'body');
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new OmaError('invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * PostgreSQL cannot store U+0000 or unpaired surrogates in text or jsonb. Refuse them up front with a
 * 400 naming the field, instead of failing (500) halfway through writing.
 */
function assertStorable(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new OmaError('invalid_request', `${path}: strings cannot contain the NUL character (\\u0000)`);
    if (LONE_SURROGATE.test(value)) throw new OmaError('invalid_request', `${path}: strings cannot contain unpaired UTF-16 surrogates`);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => assertStorable(item, `${path}.${index}`));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      assertStorable(key, path);
      assertStorable(item, `${path === 'body' ? '' : `${path}.`}${key}`);
    }
  }
}
