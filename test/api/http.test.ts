import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listKeys } from '../../src/auth/keys.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';

/** The HTTP foundation, driven by the official SDK (and raw fetch where the SDK hides the wire). */

let oma: TestOma;
const MAX_BODY = 64 * 1024;

before(async () => {
  oma = await startTestOma({ config: { maxBodyBytes: MAX_BODY } });
});
after(() => oma?.dispose());

const sdk = (apiKey: string) => new Anthropic({ baseURL: oma.url, apiKey, maxRetries: 0 });

function assertErrorBody(body: unknown, type: string, requestId: string | null) {
  const value = body as { type: string; error: { type: string; message: string }; request_id: string };
  assert.equal(value.type, 'error');
  assert.equal(value.error.type, type);
  assert.ok(value.error.message.length > 0, 'the message says what is wrong');
  assert.equal(value.request_id, requestId, 'the body repeats the request-id header');
}

describe('health and request ids', () => {
  it('[HTTP-1] GET /healthz answers 200 without a key', async () => {
    const response = await fetch(`${oma.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
    assert.match(response.headers.get('request-id') ?? '', /^req_[1-9A-HJ-NP-Za-km-z]{22}$/);
  });

  it('[HTTP-2] every response, success or error, carries a distinct request-id', async () => {
    const responses = await Promise.all([
      fetch(`${oma.url}/healthz`),
      fetch(`${oma.url}/v1/agents`),
      fetch(`${oma.url}/nowhere`, { headers: { 'x-api-key': TEST_API_KEY } }),
      fetch(`${oma.url}/oma/v1/keys`, { headers: { 'x-api-key': TEST_API_KEY } }),
    ]);
    const ids = responses.map((response) => response.headers.get('request-id'));
    assert.ok(ids.every((id) => id?.startsWith('req_')));
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('authentication', () => {
  it('[HTTP-3] no key: 401 authentication_error with a JSON content-type', async () => {
    const response = await fetch(`${oma.url}/v1/agents`);
    assert.equal(response.status, 401);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    assertErrorBody(await response.json(), 'authentication_error', response.headers.get('request-id'));
  });

  it('[HTTP-3] a wrong key: the SDK raises AuthenticationError with the request id', async () => {
    await assert.rejects(sdk('sk-oma-wrong').get('/v1/agents'), (error: unknown) => {
      assert.ok(error instanceof Anthropic.AuthenticationError);
      assert.equal(error.status, 401);
      assert.equal(error.type, 'authentication_error');
      assert.match(error.requestID ?? '', /^req_/);
      return true;
    });
  });

  it('[HTTP-4] SDK 1.x (Authorization: Bearer) and 0.x (x-api-key) styles both authenticate; any anthropic-version is accepted', async () => {
    for (const headers of <Record<string, string>[]>[
      { authorization: `Bearer ${TEST_API_KEY}`, 'anthropic-version': '2026-10-21' },
      { 'x-api-key': TEST_API_KEY, 'anthropic-version': '2023-06-01' },
      { 'x-api-key': TEST_API_KEY },
    ]) {
      const response = await fetch(`${oma.url}/oma/v1/keys`, { headers });
      assert.equal(response.status, 200, JSON.stringify(headers));
    }
    const list = await oma.client.get<{ data: unknown[] }>('/oma/v1/keys');
    assert.ok(list.data.length >= 1, 'the SDK itself authenticates with Bearer');
  });

  it('[HTTP-5] a key works at once after creation and stops at once after revocation', async () => {
    const created = await oma.client.post<{ id: string; key: string; workspace: string }>('/oma/v1/keys', {
      body: { workspace: 'acme', name: 'ci' },
    });
    assert.equal(created.workspace, 'acme');
    assert.match(created.key, /^sk-oma-/);
    const acme = sdk(created.key);
    await assert.rejects(acme.get('/v1/no-such-route'), Anthropic.NotFoundError, 'authenticated: an unknown route is a 404, not a 401');
    await oma.client.post(`/oma/v1/keys/${created.id}/revoke`);
    await assert.rejects(acme.get('/v1/no-such-route'), Anthropic.AuthenticationError);
  });

  it('[HTTP-14] admin routes need an admin key: 403 permission_error', async () => {
    const member = await oma.client.post<{ key: string }>('/oma/v1/keys', { body: { workspace: 'acme' } });
    await assert.rejects(sdk(member.key).get('/oma/v1/keys'), (error: unknown) => {
      assert.ok(error instanceof Anthropic.PermissionDeniedError);
      assert.equal(error.type, 'permission_error');
      return true;
    });
  });
});

describe('errors', () => {
  it('[HTTP-6] an unknown route is a 404 not_found_error in the Anthropic shape', async () => {
    await assert.rejects(oma.client.get('/v1/no-such-thing'), (error: unknown) => {
      assert.ok(error instanceof Anthropic.NotFoundError);
      assertErrorBody(error.error, 'not_found_error', error.requestID ?? null);
      return true;
    });
    const response = await fetch(`${oma.url}/not/even/v1`, { method: 'DELETE' });
    assert.equal(response.status, 404);
    assertErrorBody(await response.json(), 'not_found_error', response.headers.get('request-id'));
  });

  it('[HTTP-7] malformed JSON is a 400 that says so, and nothing is written', async () => {
    const before = (await listKeys(oma.db)).length;
    const response = await fetch(`${oma.url}/oma/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_API_KEY, 'content-type': 'application/json' },
      body: '{"workspace": "acme",',
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { message: string } };
    assertErrorBody(body, 'invalid_request_error', response.headers.get('request-id'));
    assert.match(body.error.message, /not valid JSON/);
    assert.equal((await listKeys(oma.db)).length, before);
  });

  it('[HTTP-8] wrong types and unknown fields are a 400 naming the field, and nothing is written', async () => {
    const before = (await listKeys(oma.db)).length;
    for (const [body, field] of [
      [{ workspace: 42 }, 'workspace'],
      [{ workspace: 'acme', colour: 'blue' }, 'colour'],
      [{ workspace: 'Not A Valid Name!' }, 'workspace name'],
      [[1, 2], 'body'],
    ] as const) {
      await assert.rejects(oma.client.post('/oma/v1/keys', { body }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError, String(error));
        assert.equal(error.type, 'invalid_request_error');
        assert.ok(error.apiMessage?.includes(field), `${error.apiMessage} names ${field}`);
        return true;
      });
    }
    assert.equal((await listKeys(oma.db)).length, before);
  });

  it('[HTTP-9] a body over the limit is a 413 request_too_large, and nothing is written', async () => {
    const before = (await listKeys(oma.db)).length;
    await assert.rejects(oma.client.post('/oma/v1/keys', { body: { workspace: 'acme', name: 'x'.repeat(MAX_BODY) } }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.ContentTooLargeError, String(error));
      assert.equal(error.type, 'request_too_large');
      return true;
    });
    // Also without a content-length (chunked upload), where only the streamed size tells.
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(MAX_BODY / 4)));
        controller.close();
      },
    });
    const response = await fetch(`${oma.url}/oma/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_API_KEY },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    assert.equal(response.status, 413);
    assertErrorBody(await response.json(), 'request_too_large', response.headers.get('request-id'));
    assert.equal((await listKeys(oma.db)).length, before);
  });

  it('[HTTP-10] a body-less POST is accepted (state-change verbs are sent without a body)', async () => {
    const created = await oma.client.post<{ id: string }>('/oma/v1/keys', { body: { workspace: 'bodyless' } });
    const response = await fetch(`${oma.url}/oma/v1/keys/${created.id}/revoke`, { method: 'POST', headers: { 'x-api-key': TEST_API_KEY } });
    assert.equal(response.status, 200);
    assert.ok(((await response.json()) as { revoked_at: string | null }).revoked_at);
  });
});
