import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { errorResponse, requestIds, type AppEnv } from '../src/api/http.ts';
import { OmaError, toOmaError, type ErrorCode } from '../src/errors.ts';

/** Every error code as the SDK sees it: status, Anthropic error type, typed SDK class, retry advice. */

const expected: Record<ErrorCode, { status: number; type: string; sdk: new (...args: never[]) => Error; retry: string | null }> = {
  invalid_request: { status: 400, type: 'invalid_request_error', sdk: Anthropic.BadRequestError, retry: null },
  unauthenticated: { status: 401, type: 'authentication_error', sdk: Anthropic.AuthenticationError, retry: null },
  permission_denied: { status: 403, type: 'permission_error', sdk: Anthropic.PermissionDeniedError, retry: null },
  not_found: { status: 404, type: 'not_found_error', sdk: Anthropic.NotFoundError, retry: null },
  conflict: { status: 409, type: 'invalid_request_error', sdk: Anthropic.ConflictError, retry: 'false' },
  stale_seq: { status: 409, type: 'invalid_request_error', sdk: Anthropic.ConflictError, retry: 'false' },
  stale_fence: { status: 409, type: 'invalid_request_error', sdk: Anthropic.ConflictError, retry: 'false' },
  precondition_failed: { status: 412, type: 'invalid_request_error', sdk: Anthropic.PreconditionFailedError, retry: null },
  request_too_large: { status: 413, type: 'request_too_large', sdk: Anthropic.ContentTooLargeError, retry: null },
  rate_limited: { status: 429, type: 'rate_limit_error', sdk: Anthropic.RateLimitError, retry: 'true' },
  internal: { status: 500, type: 'api_error', sdk: Anthropic.InternalServerError, retry: 'true' },
  unavailable: { status: 503, type: 'api_error', sdk: Anthropic.InternalServerError, retry: 'true' },
  overloaded: { status: 529, type: 'overloaded_error', sdk: Anthropic.OverloadedError, retry: 'true' },
};

const app = new Hono<AppEnv>();
app.use(requestIds());
app.onError((error, c) => errorResponse(c, error));
app.get('/throw/:code', (c) => {
  const code = c.req.param('code') as ErrorCode;
  throw new OmaError(code, `failed with ${code}`, code === 'conflict' ? { details: { error_code: 'already_archived' } } : {});
});
app.get('/crash', () => {
  throw new TypeError('secret internal detail');
});
const client = new Anthropic({ baseURL: 'http://oma.test', apiKey: 'k', maxRetries: 0, fetch: async (url, init) => app.request(url, init) });

describe('errors', () => {
  for (const [code, want] of Object.entries(expected)) {
    it(`[HTTP-11] ${code} → ${want.status} ${want.type}`, async () => {
      const response = await app.request(`/throw/${code}`);
      const requestId = response.headers.get('request-id');
      assert.match(requestId ?? '', /^req_/);
      assert.equal(response.status, want.status);
      assert.equal(response.headers.get('x-should-retry'), want.retry);
      assert.deepEqual(await response.json(), {
        type: 'error',
        error: { type: want.type, message: `failed with ${code}`, ...(code === 'conflict' ? { details: { error_code: 'already_archived' } } : {}) },
        request_id: requestId,
      });
      await assert.rejects(client.get(`/throw/${code}`), (error: unknown) => {
        assert.ok(error instanceof want.sdk, `${code}: ${String(error)}`);
        assert.match((error as InstanceType<typeof Anthropic.APIError>).requestID ?? '', /^req_/);
        return true;
      });
    });
  }

  it('[HTTP-12] a deterministic 409 is not retried by the SDK (x-should-retry: false)', async () => {
    let calls = 0;
    const counting = new Anthropic({
      baseURL: 'http://oma.test',
      apiKey: 'k',
      maxRetries: 2,
      fetch: async (url, init) => {
        calls++;
        return app.request(url, init);
      },
    });
    await assert.rejects(counting.get('/throw/conflict'), (error: unknown) => {
      assert.ok(error instanceof Anthropic.ConflictError);
      assert.equal(error.errorCode, 'already_archived');
      return true;
    });
    assert.equal(calls, 1);
  });

  it('[HTTP-13] an unexpected exception is a 500 api_error that does not leak its message', async () => {
    const response = await app.request('/crash');
    assert.equal(response.status, 500);
    const body = JSON.stringify(await response.json());
    assert.match(body, /"type":"api_error"/);
    assert.doesNotMatch(body, /secret internal detail/);
  });

  it('toOmaError keeps the cause', () => {
    const cause = new Error('root');
    const wrapped = toOmaError(cause);
    assert.equal(wrapped.code, 'internal');
    assert.equal(wrapped.cause, cause);
    const original = new OmaError('not_found', 'x');
    assert.equal(toOmaError(original), original);
  });
});
