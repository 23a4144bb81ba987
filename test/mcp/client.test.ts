import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { McpConnection, McpFailure, type McpFailureKind, type McpTokenSource } from '../../src/mcp/client.ts';
import { serveOnLoopback } from '../../src/testing/loopback.ts';
import { startMcpServer, TEST_PNG_BASE64, type TestMcpServer, type TestMcpServerOptions } from '../../src/testing/mcp-server.ts';

/**
 * The host-side MCP proxy against a real MCP server (the SDK's McpServer over Streamable HTTP) with a
 * real OAuth token endpoint; the token source is an OAuth client doing the refresh_token grant.
 */

const TIMEOUT = { timeout: 15_000 };

/** An mcp_oauth credential as the vault will hold it: refreshes through the token endpoint, once per rejected token. */
function oauthTokens(server: TestMcpServer, pair: { access_token: string; refresh_token: string }, client: { id: string; secret?: string; auth: 'basic' | 'post' | 'none' }) {
  let access: string | undefined = pair.access_token;
  let refreshToken = pair.refresh_token;
  let refreshing: Promise<string> | undefined;
  const source: McpTokenSource & { readonly access: string | undefined } = {
    get access() {
      return access;
    },
    current: async () => access,
    async refresh(rejected) {
      if (rejected !== access) return access;
      refreshing ??= (async () => {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        if (client.auth === 'basic') headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret!)}`).toString('base64')}`;
        else form.set('client_id', client.id);
        if (client.auth === 'post') form.set('client_secret', client.secret!);
        const response = await fetch(server.tokenEndpoint, { method: 'POST', headers, body: form });
        const body = (await response.json()) as { access_token?: string; refresh_token?: string; error?: string };
        if (!response.ok || !body.access_token) throw new Error(`the token endpoint refused the refresh: ${body.error ?? response.status}`);
        access = body.access_token;
        refreshToken = body.refresh_token ?? refreshToken;
        return access;
      })().finally(() => (refreshing = undefined));
      return refreshing;
    },
  };
  return source;
}

const staticToken = (token: string | undefined): McpTokenSource => ({
  current: async () => token,
  refresh: async () => {
    throw new Error('a static bearer token cannot be refreshed');
  },
});

/** The failure `promise` rejects with, checked to be an McpFailure of `kind`. */
async function failure(promise: Promise<unknown>, kind: McpFailureKind): Promise<McpFailure> {
  const error = await promise.then(
    () => assert.fail(`expected an McpFailure of kind ${kind}, got a result`),
    (error: unknown) => error,
  );
  assert.ok(error instanceof McpFailure, `expected an McpFailure, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  return error;
}

async function elapsed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/mcp`;
}

describe('McpConnection against a real MCP server', () => {
  let server: TestMcpServer;
  const connections: McpConnection[] = [];
  const open = (tokens?: McpTokenSource, options?: { timeoutMs?: number; connectTimeoutMs?: number }, url = server.url) => {
    const connection = new McpConnection({ name: 'test-mcp', url }, tokens, options);
    connections.push(connection);
    return connection;
  };

  before(async () => {
    server = await startMcpServer({ clientId: 'oma', clientSecret: 'shh-client-secret', tokenAuth: 'client_secret_basic' });
  });
  after(async () => {
    await Promise.all(connections.map((connection) => connection.close()));
    await server.close();
  });

  test('[MCP-2] lists every tool and calls one with the bearer token, which the server saw', TIMEOUT, async () => {
    const { access_token } = server.issueTokens();
    const connection = open(staticToken(access_token));
    const tools = await connection.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['add', 'echo', 'fail', 'image', 'slow']);
    const add = tools.find((tool) => tool.name === 'add')!;
    assert.equal(add.description, 'Adds two numbers');
    assert.deepEqual(Object.keys(add.inputSchema.properties as object).sort(), ['a', 'b']);

    assert.deepEqual(await connection.callTool('echo', { text: 'hello' }), { content: [{ type: 'text', text: 'hello' }], isError: false });
    assert.deepEqual(await connection.callTool('add', { a: 2, b: 40 }), { content: [{ type: 'text', text: '42' }], isError: false });
    const seen = server.calls.slice(-2);
    assert.deepEqual(seen.map((call) => call.tool), ['echo', 'add']);
    assert.deepEqual(seen[1]!.args, { a: 2, b: 40 });
    for (const call of seen) assert.equal(call.authorization, `Bearer ${access_token}`);
  });

  test('an image result becomes a base64 image block; an isError result is returned, not thrown', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token));
    assert.deepEqual(await connection.callTool('image', {}), {
      content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: TEST_PNG_BASE64 } }],
      isError: false,
    });
    const failed = await connection.callTool('fail', {});
    assert.equal(failed.isError, true);
    assert.deepEqual(failed.content, [{ type: 'text', text: 'fail: this tool always fails' }]);
  });

  test('[MCP-2] a 401 on a live connection triggers one refresh_token grant (rotated) and one retry with the new token', TIMEOUT, async () => {
    const pair = server.issueTokens();
    const tokens = oauthTokens(server, pair, { id: 'oma', secret: 'shh-client-secret', auth: 'basic' });
    const connection = open(tokens);
    await connection.callTool('echo', { text: 'before' });
    const requestsBefore = server.tokenRequests.length;
    server.expireAccessTokens();

    assert.deepEqual((await connection.callTool('echo', { text: 'after' })).content, [{ type: 'text', text: 'after' }]);
    const grants = server.tokenRequests.slice(requestsBefore);
    assert.deepEqual(grants, [{ grant_type: 'refresh_token', refresh_token: pair.refresh_token, client_id: 'oma', client_auth: 'basic' }]);
    assert.notEqual(tokens.access, pair.access_token);
    const last = server.calls.at(-1)!;
    assert.deepEqual([last.args, last.authorization], [{ text: 'after' }, `Bearer ${tokens.access}`]);
    // Rotation: the refresh token that was used is spent.
    const replay = await fetch(server.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('oma:shh-client-secret').toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pair.refresh_token }),
    });
    assert.equal(replay.status, 400);
    assert.deepEqual(await replay.json(), { error: 'invalid_grant', error_description: 'unknown, used or revoked refresh token' });
  });

  test('[MCP-2] a 401 while connecting refreshes and connects; concurrent 401s share one refresh', TIMEOUT, async () => {
    const pair = server.issueTokens();
    server.expireAccessTokens();
    const tokens = oauthTokens(server, pair, { id: 'oma', secret: 'shh-client-secret', auth: 'basic' });
    const connection = open(tokens);
    const requestsBefore = server.tokenRequests.length;
    assert.equal((await connection.listTools()).length, 5);
    assert.equal(server.tokenRequests.length - requestsBefore, 1);

    server.expireAccessTokens();
    const results = await Promise.all([1, 2, 3, 4, 5].map((a) => connection.callTool('add', { a, b: 1 })));
    assert.deepEqual(results.map((result) => result.content), [2, 3, 4, 5, 6].map((sum) => [{ type: 'text', text: String(sum) }]));
    assert.equal(server.tokenRequests.length - requestsBefore, 2, 'one refresh for the five refused calls');
  });

  test('[MCP-2] calls refused with the same token at once ask the token source for one refresh', TIMEOUT, async () => {
    const pair = server.issueTokens();
    let access = pair.access_token;
    const rejected: (string | undefined)[] = [];
    // A source that refreshes every time it is asked, slowly, as a token endpoint across the internet would.
    const eager: McpTokenSource = {
      current: async () => access,
      async refresh(token) {
        rejected.push(token);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return (access = server.issueTokens().access_token);
      },
    };
    const connection = open(eager);
    await connection.listTools();
    server.expireAccessTokens();
    const results = await Promise.all([1, 2, 3].map((a) => connection.callTool('add', { a, b: 1 })));
    assert.deepEqual(results.map((result) => result.isError), [false, false, false]);
    assert.deepEqual(rejected, [pair.access_token]);
  });

  test('[MCP-2] a refresh that fails is an authentication failure without any token in it', TIMEOUT, async () => {
    const pair = server.issueTokens();
    const tokens = oauthTokens(server, { access_token: pair.access_token, refresh_token: 'mcp_rt_revoked' }, { id: 'oma', secret: 'shh-client-secret', auth: 'basic' });
    const connection = open(tokens);
    server.expireAccessTokens();
    const error = await failure(connection.callTool('echo', { text: 'x' }), 'authentication');
    assert.match(error.message, /^test-mcp: .*401.*invalid_grant/);
    assert.ok(!error.message.includes(pair.access_token) && !error.message.includes(pair.refresh_token));
  });

  test('[MCP-2] a second 401 after the refresh is an authentication failure: one refresh, one retry, no loop', TIMEOUT, async () => {
    const expiring = await startMcpServer({ clientId: 'oma', accessTtlSeconds: 0 });
    try {
      const pair = expiring.issueTokens();
      const tokens = oauthTokens(expiring, pair, { id: 'oma', auth: 'none' });
      const connection = open(tokens, {}, expiring.url);
      const error = await failure(connection.callTool('echo', { text: 'x' }), 'authentication');
      assert.match(error.message, /refused the credential \(HTTP 401\)/);
      assert.deepEqual(expiring.tokenRequests.map((request) => [request.grant_type, request.client_auth]), [['refresh_token', 'none']]);
      assert.ok(!error.message.includes(pair.access_token) && !error.message.includes(tokens.access!));
    } finally {
      await expiring.close();
    }
  });

  test('client_secret_post clients are authenticated from the body', TIMEOUT, async () => {
    const posting = await startMcpServer({ clientId: 'oma-post', clientSecret: 'post-secret', tokenAuth: 'client_secret_post' });
    try {
      const pair = posting.issueTokens();
      posting.expireAccessTokens();
      const connection = open(oauthTokens(posting, pair, { id: 'oma-post', secret: 'post-secret', auth: 'post' }), {}, posting.url);
      assert.equal((await connection.callTool('echo', { text: 'ok' })).isError, false);
      assert.deepEqual(posting.tokenRequests.map((request) => request.client_auth), ['post']);
      // The wrong method of client authentication is refused.
      const wrong = open(oauthTokens(posting, posting.issueTokens(), { id: 'oma-post', secret: 'post-secret', auth: 'basic' }), {}, posting.url);
      posting.expireAccessTokens();
      await failure(wrong.callTool('echo', { text: 'x' }), 'authentication');
    } finally {
      await posting.close();
    }
  });

  test('[MCP-2] a token source that cannot give a token is an authentication failure, and nothing is sent', TIMEOUT, async () => {
    const calls = server.calls.length;
    const broken: McpTokenSource = {
      current: () => Promise.reject(new Error('the vault credential is archived')),
      refresh: () => Promise.reject(new Error('unreachable')),
    };
    const error = await failure(open(broken).callTool('echo', { text: 'x' }), 'authentication');
    assert.equal(error.message, 'test-mcp: no credential could be had: the vault credential is archived');
    assert.equal(server.calls.length, calls);
  });

  test('[MCP-3] no credential at all is an authentication failure', TIMEOUT, async () => {
    const error = await failure(open().listTools(), 'authentication');
    assert.equal(error.message, 'test-mcp: the server refused the credential (HTTP 401)');
  });

  test('[MCP-3] a server that is down (503) is a connection failure at once, and the next call reconnects', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token));
    await connection.callTool('echo', { text: 'up' });
    server.setDown(true);
    try {
      const { value, ms } = await elapsed(() => failure(connection.callTool('echo', { text: 'down' }), 'connection'));
      assert.equal(value.message, 'test-mcp: HTTP 503');
      assert.ok(ms < 2_000, `took ${ms} ms`);
      await failure(open(staticToken(server.issueTokens().access_token)).listTools(), 'connection');
    } finally {
      server.setDown(false);
    }
    assert.deepEqual((await connection.callTool('echo', { text: 'up again' })).content, [{ type: 'text', text: 'up again' }]);
  });

  test('[MCP-3] a closed port is a connection failure ("connection refused") at once', TIMEOUT, async () => {
    const connection = open(staticToken('mcp_at_whatever'), {}, await closedPortUrl());
    const { value, ms } = await elapsed(() => failure(connection.listTools(), 'connection'));
    assert.equal(value.message, 'test-mcp: connection refused');
    assert.ok(ms < 2_000, `took ${ms} ms`);
  });

  test('[MCP-3] a host that does not resolve is a connection failure within the connect timeout', TIMEOUT, async () => {
    const connection = open(staticToken('mcp_at_whatever'), { connectTimeoutMs: 3_000 }, 'http://mcp.oma-test.invalid/mcp');
    const { value, ms } = await elapsed(() => failure(connection.callTool('echo', { text: 'x' }), 'connection'));
    assert.match(value.message, /^test-mcp: (host not found|timed out after 3000 ms)$/);
    assert.ok(ms < 5_000, `took ${ms} ms`);
  });

  test('[MCP-3] an unknown tool is a protocol failure, and the connection stays usable', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token));
    const error = await failure(connection.callTool('no_such_tool', {}), 'protocol');
    assert.match(error.message, /^test-mcp: .*Unknown tool: no_such_tool/);
    assert.equal((await connection.callTool('echo', { text: 'still here' })).isError, false);
  });

  test('[MCP-3] a slow call aborted by its signal settles promptly with the abort reason', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token));
    await connection.listTools();
    const controller = new AbortController();
    const reason = new Error('the user interrupted');
    setTimeout(() => controller.abort(reason), 100);
    const { value, ms } = await elapsed(() => connection.callTool('slow', { ms: 10_000 }, controller.signal).catch((error: unknown) => error));
    assert.equal(value, reason);
    assert.ok(ms < 1_000, `took ${ms} ms`);
    // An already aborted signal settles without a request.
    const calls = server.calls.length;
    assert.equal(await connection.callTool('echo', { text: 'x' }, controller.signal).catch((error: unknown) => error), reason);
    assert.equal(server.calls.length, calls);
    assert.equal((await connection.callTool('echo', { text: 'after abort' })).isError, false);
  });

  test('[MCP-3] a call that outlives timeoutMs is a connection failure ("timed out")', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token), { timeoutMs: 300 });
    const { value, ms } = await elapsed(() => failure(connection.callTool('slow', { ms: 5_000 }), 'connection'));
    assert.equal(value.message, 'test-mcp: timed out after 300 ms');
    assert.ok(ms < 1_500, `took ${ms} ms`);
    assert.equal((await connection.callTool('slow', { ms: 10 })).isError, false);
  });

  test('a call that times out does not cut a concurrent call on the same connection', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token), { timeoutMs: 1_000 });
    await connection.listTools();
    // The first call times out at 1 s, while the second (600 ms → 1.2 s) is in flight.
    const first = connection.callTool('slow', { ms: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const [slow, quick] = await Promise.allSettled([first, connection.callTool('slow', { ms: 600 })]);
    assert.equal(slow.status === 'rejected' && (slow.reason as McpFailure).message, 'test-mcp: timed out after 1000 ms');
    assert.deepEqual(quick.status === 'fulfilled' ? quick.value.content : quick.reason, [{ type: 'text', text: 'waited 600 ms' }]);
  });

  test('close() fails the calls in flight as connection failures and refuses new ones', TIMEOUT, async () => {
    const connection = open(staticToken(server.issueTokens().access_token));
    await connection.listTools();
    const inFlight = failure(connection.callTool('slow', { ms: 10_000 }), 'connection');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { ms } = await elapsed(() => Promise.all([connection.close(), inFlight]));
    assert.ok(ms < 1_000, `took ${ms} ms`);
    assert.equal((await failure(connection.listTools(), 'connection')).message, 'test-mcp: the connection is closed');
  });
});

test('[MCP-3] a server that accepts but never answers: a connection failure after connectTimeoutMs, and close() is prompt', TIMEOUT, async () => {
  const silent = await serveOnLoopback(() => {});
  try {
    const connection = new McpConnection({ name: 'silent', url: `${silent.origin}/mcp` }, staticToken('mcp_at_x'), { connectTimeoutMs: 300 });
    const { value, ms } = await elapsed(() => failure(connection.listTools(), 'connection'));
    assert.equal(value.message, 'silent: timed out after 300 ms');
    assert.ok(ms < 1_500, `took ${ms} ms`);
    await connection.close();

    const patient = new McpConnection({ name: 'silent', url: `${silent.origin}/mcp` }, staticToken('mcp_at_x'));
    const pending = failure(patient.listTools(), 'connection');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = await elapsed(() => Promise.all([patient.close(), pending]));
    assert.equal(closing.value[1].message, 'silent: the connection is closed');
    assert.ok(closing.ms < 1_000, `took ${closing.ms} ms`);
  } finally {
    await silent.close();
  }
});

/** A plain MCP server (the SDK's low-level Server, stateless, no auth) with two pages of tools and results of every content type. */
async function serveContentKinds() {
  const tools = ['mixed', 'empty', 'structured'].map((name) => ({ name, inputSchema: { type: 'object' as const } }));
  return serveOnLoopback((request, response) => {
    if (request.method !== 'POST') return void response.writeHead(405).end();
    const server = new Server({ name: 'content-kinds', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, (list) => (list.params?.cursor === 'page-2' ? { tools: tools.slice(2) } : { tools: tools.slice(0, 2), nextCursor: 'page-2' }));
    server.setRequestHandler(CallToolRequestSchema, (call) => {
      if (call.params.name === 'empty') return { content: [] };
      if (call.params.name === 'structured') return { content: [], structuredContent: { answer: 42 } };
      return {
        content: [
          { type: 'audio', data: 'AAAAAAAA', mimeType: 'audio/wav' },
          { type: 'resource', resource: { uri: 'file:///notes.txt', mimeType: 'text/plain', text: 'the notes' } },
          { type: 'resource', resource: { uri: 'file:///blob.bin', mimeType: 'application/octet-stream', blob: 'AAAA' } },
          { type: 'resource_link', uri: 'https://example.com/doc', name: 'doc', mimeType: 'text/html', description: 'the doc' },
          { type: 'image', data: 'PHN2Zz48L3N2Zz4=', mimeType: 'image/svg+xml' },
        ],
      };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    response.on('close', () => void transport.close().finally(() => server.close()));
    void server.connect(transport).then(() => transport.handleRequest(request, response));
  });
}

test('tools of every page are listed; content the Messages API cannot carry is described in text', TIMEOUT, async () => {
  const plain = await serveContentKinds();
  const connection = new McpConnection({ name: 'plain', url: `${plain.origin}/mcp` });
  try {
    assert.deepEqual((await connection.listTools()).map((tool) => tool.name), ['mixed', 'empty', 'structured']);
    assert.deepEqual(await connection.callTool('mixed', {}), {
      isError: false,
      content: [
        { type: 'text', text: '[audio of type audio/wav, 6 bytes, not shown]' },
        { type: 'text', text: '[resource file:///notes.txt (text/plain)]\nthe notes' },
        { type: 'text', text: '[resource file:///blob.bin (application/octet-stream)] binary, 3 bytes, not shown' },
        { type: 'text', text: '[resource link: doc https://example.com/doc (type text/html; the doc)]' },
        { type: 'text', text: '[image of type image/svg+xml, 12 bytes, not shown: only JPEG, PNG, GIF and WebP can be]' },
      ],
    });
    assert.deepEqual(await connection.callTool('empty', {}), { isError: false, content: [{ type: 'text', text: '(no output)' }] });
    assert.deepEqual(await connection.callTool('structured', {}), { isError: false, content: [{ type: 'text', text: '{"answer":42}' }] });
  } finally {
    await connection.close();
    await plain.close();
  }
});

test('[MCP-3] a server that echoes the token in its errors: no McpFailure message holds it', TIMEOUT, async () => {
  const token = 'mcp_at_canary_3f9a1c';
  const echoing = await serveOnLoopback((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const id = (JSON.parse(body || '{}') as { id?: unknown }).id ?? null;
      if (request.url === '/http-error') {
        response.writeHead(500, { 'content-type': 'text/plain' });
        return response.end(`cannot serve ${request.headers.authorization}`);
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: `rejected ${request.headers.authorization}` } }));
    });
  });
  try {
    const messages: string[] = [];
    for (const [path, kind] of [['/mcp', 'protocol'], ['/http-error', 'connection']] as const) {
      const connection = new McpConnection({ name: 'echoing', url: `${echoing.origin}${path}` }, staticToken(token));
      try {
        messages.push((await failure(connection.listTools(), kind)).message);
      } finally {
        await connection.close();
      }
    }
    assert.equal(messages[0], 'echoing: MCP error -32603: rejected Bearer [redacted]');
    assert.equal(messages[1], 'echoing: HTTP 500');
    for (const message of messages) assert.ok(!message.includes(token), message);
  } finally {
    await echoing.close();
  }
});
