import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * A real MCP server (the MCP SDK's `McpServer` over its Streamable HTTP transport) with an OAuth
 * token endpoint, on 127.0.0.1, for the MCP proxy's tests and benchmark.
 *
 * - `/mcp` wants `Authorization: Bearer <access token>` that `issueTokens` or the token endpoint
 *   issued and that has neither expired nor been expired by `expireAccessTokens`: else 401 with
 *   `WWW-Authenticate: Bearer`, before any MCP handling. `setDown(true)` makes it answer 503 first.
 *   Stateless: each POST gets a fresh server and transport; GET and DELETE (the standalone SSE
 *   stream, session termination) are 405, as the spec allows for servers without sessions.
 * - `/oauth/token` implements the `refresh_token` grant with rotation: each refresh answers a new
 *   refresh token and the old one becomes `invalid_grant`. The client authenticates as configured
 *   (`none`: `client_id` in the body; `client_secret_basic`; `client_secret_post`).
 * - Tools: `echo {text}`, `add {a, b}`, `fail {}` (an `isError` result), `slow {ms}`, `image {}`
 *   (a 1×1 PNG). A call of a tool that does not exist is answered with a JSON-RPC error (-32602), as
 *   the MCP spec describes protocol errors; the SDK's `McpServer` alone would turn it into an
 *   `isError` result, and the proxy must be tested against both shapes.
 * Every authorised `tools/call` is recorded in `calls` (with the Authorization header it carried),
 * every token request in `tokenRequests`.
 */

export interface TestMcpServer {
  /** `http://127.0.0.1:port/mcp` */
  url: string;
  /** `http://127.0.0.1:port/oauth/token` */
  tokenEndpoint: string;
  /** A fresh access and refresh token pair, as an authorization code grant would have given. */
  issueTokens(): { access_token: string; refresh_token: string };
  /** Every access token issued so far gets 401 from now on (refresh tokens stay valid). */
  expireAccessTokens(): void;
  /** While down, every `/mcp` request answers 503. */
  setDown(down: boolean): void;
  calls: { tool: string; args: unknown; authorization: string | undefined }[];
  tokenRequests: { grant_type: string; refresh_token?: string; client_id?: string; client_auth: 'none' | 'basic' | 'post' }[];
  /** Stops listening and cuts open connections (a slow call in flight included). */
  close(): Promise<void>;
}

export interface TestMcpServerOptions {
  clientId?: string;
  clientSecret?: string;
  /** Default: `client_secret_basic` when a secret is given, else `none`. */
  tokenAuth?: 'none' | 'client_secret_basic' | 'client_secret_post';
  /** Lifetime of access tokens (default 3600). */
  accessTtlSeconds?: number;
}

/** The smallest valid PNG: one transparent pixel. */
export const TEST_PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const TOOL_NAMES = new Set(['echo', 'add', 'fail', 'slow', 'image']);
const MAX_BODY = 1024 * 1024;

/** A fresh McpServer with the test tools (one per request: the server is stateless). */
function createMcpServer(): McpServer {
  const server = new McpServer({ name: 'oma-test-mcp', version: '1.0.0' });
  server.registerTool('echo', { description: 'Answers its text', inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('fail', { description: 'Always fails', inputSchema: {} }, () => ({ content: [{ type: 'text', text: 'fail: this tool always fails' }], isError: true }));
  server.registerTool('slow', { description: 'Waits ms milliseconds, then answers', inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      extra.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    return { content: [{ type: 'text', text: `waited ${ms} ms` }] };
  });
  server.registerTool('image', { description: 'Answers a 1×1 PNG', inputSchema: {} }, () => ({ content: [{ type: 'image', data: TEST_PNG_BASE64, mimeType: 'image/png' }] }));
  return server;
}

const newToken = (prefix: string) => `${prefix}_${randomBytes(18).toString('base64url')}`;

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** `client_secret_basic` credentials: both halves are form-urlencoded before joining (RFC 6749 §2.3.1). */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const decode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
  return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
}

export async function startMcpServer(options: TestMcpServerOptions = {}): Promise<TestMcpServer> {
  const clientId = options.clientId ?? 'oma-test-client';
  const clientSecret = options.clientSecret;
  const tokenAuth = options.tokenAuth ?? (clientSecret === undefined ? 'none' : 'client_secret_basic');
  if (tokenAuth !== 'none' && clientSecret === undefined) throw new Error(`startMcpServer: tokenAuth ${tokenAuth} needs a clientSecret`);
  const accessTtlSeconds = options.accessTtlSeconds ?? 3600;
  /** Access token → when it stops being valid (ms since epoch). */
  const accessTokens = new Map<string, number>();
  const refreshTokens = new Set<string>();
  let down = false;
  const calls: TestMcpServer['calls'] = [];
  const tokenRequests: TestMcpServer['tokenRequests'] = [];

  const issueTokens = () => {
    const pair = { access_token: newToken('mcp_at'), refresh_token: newToken('mcp_rt') };
    accessTokens.set(pair.access_token, Date.now() + accessTtlSeconds * 1000);
    refreshTokens.add(pair.refresh_token);
    return pair;
  };

  const authorised = (header: string | undefined) => {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    const until = token === undefined ? undefined : accessTokens.get(token);
    return until !== undefined && until > Date.now();
  };

  /** Who the client says it is, per the configured method; undefined when it fails to. */
  const authenticateClient = (request: IncomingMessage, form: URLSearchParams): { id: string | undefined; via: 'none' | 'basic' | 'post'; ok: boolean } => {
    const basic = basicCredentials(request.headers.authorization);
    const via = basic ? 'basic' : form.has('client_secret') ? 'post' : 'none';
    const id = basic?.id ?? form.get('client_id') ?? undefined;
    if (tokenAuth === 'client_secret_basic') return { id, via, ok: basic !== undefined && basic.id === clientId && same(basic.secret, clientSecret!) };
    if (tokenAuth === 'client_secret_post') return { id, via, ok: via === 'post' && id === clientId && same(form.get('client_secret')!, clientSecret!) };
    return { id, via, ok: via === 'none' && id === clientId };
  };

  async function onToken(request: IncomingMessage, response: ServerResponse) {
    if (request.method !== 'POST') return sendJson(response, 405, { error: 'invalid_request', error_description: 'POST only' }, { allow: 'POST' });
    if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return sendJson(response, 400, { error: 'invalid_request', error_description: 'application/x-www-form-urlencoded body expected' });
    }
    const form = new URLSearchParams(await readBody(request));
    const client = authenticateClient(request, form);
    const grantType = form.get('grant_type') ?? '';
    tokenRequests.push({ grant_type: grantType, refresh_token: form.get('refresh_token') ?? undefined, client_id: client.id, client_auth: client.via });
    if (!client.ok) return sendJson(response, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="oauth"' });
    if (grantType !== 'refresh_token') return sendJson(response, 400, { error: 'unsupported_grant_type' });
    const presented = form.get('refresh_token') ?? '';
    if (!refreshTokens.delete(presented)) return sendJson(response, 400, { error: 'invalid_grant', error_description: 'unknown, used or revoked refresh token' });
    const pair = issueTokens();
    sendJson(response, 200, { ...pair, token_type: 'Bearer', expires_in: accessTtlSeconds });
  }

  async function onMcp(request: IncomingMessage, response: ServerResponse) {
    if (down) return sendJson(response, 503, { error: 'down for a test' });
    if (!authorised(request.headers.authorization)) return sendJson(response, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer realm="oma-test-mcp", error="invalid_token"' });
    if (request.method !== 'POST') return sendJson(response, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null }, { allow: 'POST' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch {
      return sendJson(response, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
    }
    const message = body as { method?: unknown; id?: unknown; params?: { name?: unknown; arguments?: unknown } };
    if (message?.method === 'tools/call') {
      const tool = String(message.params?.name);
      calls.push({ tool, args: message.params?.arguments, authorization: request.headers.authorization });
      if (!TOOL_NAMES.has(tool)) return sendJson(response, 200, { jsonrpc: '2.0', id: message.id ?? null, error: { code: -32602, message: `Unknown tool: ${tool}` } });
    }
    const server = createMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on('close', () => void transport.close().finally(() => server.close()));
    await server.connect(transport);
    await transport.handleRequest(request, response, body);
  }

  const http = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const handler = path === '/mcp' ? onMcp : path === '/oauth/token' ? onToken : undefined;
    if (!handler) return sendJson(response, 404, { error: 'not found' });
    // A handler that throws must not become an unhandled rejection.
    handler(request, response).catch(() => (response.headersSent ? response.destroy() : sendJson(response, 500, { error: 'server_error' })));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;

  return {
    url: `${origin}/mcp`,
    tokenEndpoint: `${origin}/oauth/token`,
    issueTokens,
    expireAccessTokens: () => accessTokens.clear(),
    setDown: (value) => void (down = value),
    calls,
    tokenRequests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      return closing;
    },
  };
}
