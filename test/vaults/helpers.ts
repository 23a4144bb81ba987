import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config.ts';
import { startOma, type RunningOma } from '../../src/server.ts';
import { freshPgliteDir, freshPostgres } from '../../src/testing/databases.ts';
import { TEST_API_KEY } from '../../src/testing/server.ts';

/**
 * A whole oma server for the vault tests: like `startTestOma`, plus a debug-level logger whose lines
 * are kept (`logs`) and a client whose every response body is kept (`bodies`), so tests can check
 * that no secret ever leaves. `masterKey`: undefined = PGlite generates one and PostgreSQL gets a
 * random master key; null = none at all; a string = that key (as OMA_MASTER_KEY would give it).
 */
export interface VaultOma extends RunningOma {
  client: Anthropic;
  logs: string[];
  bodies: string[];
  /** A client of its own for `fetch`-level recording with another key. */
  clientFor(apiKey: string): Anthropic;
  dispose(): Promise<void>;
}

export async function startVaultOma(
  storage: 'pglite' | 'postgres',
  options: { masterKey?: string | null; config?: Partial<Config>; dataDir?: string; postgres?: { url: string; schema: string } } = {},
): Promise<VaultOma> {
  let config: Config;
  let cleanup: () => Promise<void>;
  const key = options.masterKey === undefined ? (storage === 'postgres' ? randomBytes(32).toString('hex') : undefined) : options.masterKey;
  const base = { port: 0, apiKey: TEST_API_KEY, brains: 0, masterKey: key ?? undefined, ...options.config };
  if (storage === 'postgres') {
    const pg = options.postgres ? { ...options.postgres, drop: async () => {} } : freshPostgres();
    config = loadConfig({}, { ...base, databaseUrl: pg.url, databaseSchema: pg.schema });
    cleanup = pg.drop;
  } else {
    const dir = options.dataDir ?? (await freshPgliteDir());
    config = loadConfig({}, { ...base, dataDir: dir });
    cleanup = async () => (options.dataDir ? undefined : rmSync(dir, { recursive: true, force: true }));
  }
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }));
  let oma: RunningOma;
  try {
    oma = await startOma(config, logger);
  } catch (error) {
    await cleanup();
    throw error;
  }
  const bodies: string[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    bodies.push(await response.clone().text());
    return response;
  };
  const clientFor = (apiKey: string) => new Anthropic({ baseURL: oma.url, apiKey, maxRetries: 0, fetch: recordingFetch });
  return {
    ...oma,
    client: clientFor(TEST_API_KEY),
    clientFor,
    logs,
    bodies,
    async dispose() {
      await oma.stop(1_000);
      await cleanup();
    },
  };
}

/** What the fixture's token endpoint saw. */
export interface TokenRequest {
  authorization: string | undefined;
  form: Record<string, string>;
}

/**
 * A tiny OAuth-protected MCP server on 127.0.0.1: `POST /mcp` answers `initialize` with 200 only for
 * the current access token (a 401 echoing the bearer otherwise, to check scrubbing); `POST /token`
 * does the refresh_token grant for one client, rotating both tokens each time.
 */
export interface OAuthFixture {
  url: string;
  mcpUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** The access token /mcp accepts now. */
  accessToken: string;
  /** The refresh token /token accepts now. */
  refreshToken: string;
  /** How the client must authenticate at /token. */
  clientAuth: 'none' | 'client_secret_basic' | 'client_secret_post';
  tokenRequests: TokenRequest[];
  /** Every token it ever issued or accepted. */
  issued: string[];
  /** Milliseconds /token waits before answering. */
  tokenDelayMs: number;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startOAuthFixture(prefix: string): Promise<OAuthFixture> {
  let counter = 0;
  const fixture = {
    clientId: `client-${prefix}`,
    clientSecret: `canary-client-secret-${prefix}`,
    accessToken: `canary-access-${prefix}-0`,
    refreshToken: `canary-refresh-${prefix}-0`,
    clientAuth: 'client_secret_basic',
    tokenRequests: [],
    issued: [] as string[],
    tokenDelayMs: 50,
  } as unknown as OAuthFixture;
  fixture.issued.push(fixture.accessToken, fixture.refreshToken, fixture.clientSecret);
  const server: Server = createServer(async (request, response) => {
    const body = await readBody(request);
    const json = (status: number, value: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    if (request.url === '/mcp' && request.method === 'POST') {
      const bearer = request.headers.authorization?.replace(/^Bearer /, '');
      const message = JSON.parse(body) as { id: number; method: string };
      if (bearer !== fixture.accessToken) return json(401, { error: 'invalid_token', error_description: `token ${bearer} is not valid` });
      return json(200, { jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'fixture', version: '1' } } });
    }
    if (request.url === '/token' && request.method === 'POST') {
      const form = Object.fromEntries(new URLSearchParams(body));
      fixture.tokenRequests.push({ authorization: request.headers.authorization, form });
      await new Promise((resolve) => setTimeout(resolve, fixture.tokenDelayMs));
      const basic = `Basic ${Buffer.from(`${fixture.clientId}:${fixture.clientSecret}`).toString('base64')}`;
      const clientOk =
        fixture.clientAuth === 'client_secret_basic'
          ? request.headers.authorization === basic && form.client_secret === undefined
          : fixture.clientAuth === 'client_secret_post'
            ? request.headers.authorization === undefined && form.client_id === fixture.clientId && form.client_secret === fixture.clientSecret
            : request.headers.authorization === undefined && form.client_id === fixture.clientId;
      if (!clientOk) return json(401, { error: 'invalid_client' });
      if (form.grant_type !== 'refresh_token' || form.refresh_token !== fixture.refreshToken) {
        return json(400, { error: 'invalid_grant', error_description: `refresh token ${form.refresh_token} is not valid` });
      }
      counter++;
      fixture.accessToken = `canary-access-${prefix}-${counter}`;
      fixture.refreshToken = `canary-refresh-${prefix}-${counter}`;
      fixture.issued.push(fixture.accessToken, fixture.refreshToken);
      return json(200, { access_token: fixture.accessToken, refresh_token: fixture.refreshToken, token_type: 'Bearer', expires_in: 3600 });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(fixture, {
    url,
    mcpUrl: `${url}/mcp`,
    tokenUrl: `${url}/token`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return fixture;
}

/** Assert that none of `secrets` occurs in any of `texts` (names the first hit, not the secret). */
export function findLeak(texts: readonly string[], secrets: readonly string[]): string | undefined {
  for (const [index, text] of texts.entries()) {
    for (const secret of secrets) if (text.includes(secret)) return `text #${index} contains a secret (${secret.slice(0, 12)}…)`;
  }
  return undefined;
}
