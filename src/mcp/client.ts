import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The host-side MCP proxy for one MCP server of one session run. The model never talks to the MCP
 * server: the brain calls it from the host through the MCP SDK's Streamable HTTP client, and this
 * class adds the user's credential on every HTTP request (read from the token source each time, so a
 * refreshed token is used without reconnecting). A 401 triggers one refresh and one retry of the
 * whole operation. Everything that goes wrong becomes an `McpFailure` of a closed set of kinds, with
 * a short cause and never a secret, so the brain can turn it into a tool error or a session.error
 * instead of hanging or failing the turn. Results come back as Messages API content blocks.
 */

/** Where the credential comes from (the session's vault); implementations serialise refreshes. */
export interface McpTokenSource {
  /** The token to send now (undefined: connect without Authorization). */
  current(): Promise<string | undefined>;
  /**
   * The server refused `rejected` (401): return a fresh token, or throw when none can be had. When
   * `rejected` is no longer the current token (another caller refreshed meanwhile), return the
   * current one rather than refreshing again: with rotation, a second refresh would burn the new
   * refresh token. The message of what it throws is shown to the user, so it must hold no secret.
   */
  refresh(rejected: string | undefined): Promise<string | undefined>;
}

export interface McpToolInfo {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/** A tool result block of the Messages API (structurally `TextBlockParam | ImageBlockParam`). */
export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: ImageMediaType; data: string } };
type ImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

/**
 * - `connection`: the server could not be reached or did not answer in time (refused, host not
 *   found, timed out, reset, HTTP 5xx); the next call reconnects.
 * - `authentication`: the server refused the credential (401 after a refresh, 403), or no fresh one
 *   could be had.
 * - `protocol`: the server answered, but with a JSON-RPC error (an unknown tool, bad arguments) or
 *   something that is not MCP.
 */
export type McpFailureKind = 'connection' | 'authentication' | 'protocol';

/**
 * Carries no `cause` on purpose: the SDK's errors quote response bodies, which a server may fill
 * with what it was sent. The message is built here from a short cause, with tokens scrubbed.
 */
export class McpFailure extends Error {
  override readonly name = 'McpFailure';
  constructor(
    readonly kind: McpFailureKind,
    message: string,
  ) {
    super(message);
  }
}

export interface McpConnectionOptions {
  /** Bound on one call or listing, per attempt (default 60 000). */
  timeoutMs?: number;
  /** Bound on connecting (the initialize handshake), per attempt (default 10 000). */
  connectTimeoutMs?: number;
}

/**
 * What one attempt (a connect, or one operation) is doing, found by the transport's `fetch` through
 * async context: the signal that bounds it, and the token a 401 refused, which `refresh` is told.
 */
interface Attempt {
  signal: AbortSignal;
  rejected?: { token: string | undefined };
}
const attempts = new AsyncLocalStorage<Attempt>();

/** Thrown inside an attempt on 401, to be refreshed and retried once. */
class Unauthorized extends Error {
  constructor(readonly token: string | undefined) {
    super('HTTP 401');
  }
}

/** The reason an attempt's signal aborts when its time is up. */
class TimedOut extends Error {}

const SCRUBBED = '[redacted]';
/** How many recently sent tokens are remembered for scrubbing messages. */
const REMEMBERED_TOKENS = 8;

/**
 * One MCP SDK client (an initialized connection) and how many operations use it. A retired link
 * takes no new operations and closes when its last one settles, so a failure that makes the next
 * call reconnect does not cut the calls still in flight on it.
 */
interface Link {
  client: Client;
  ready: Promise<void>;
  users: number;
  retired: boolean;
}

export class McpConnection {
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** The link new operations use; connected lazily. */
  private link: Link | undefined;
  /** Every link not yet closed, for close(). */
  private readonly links = new Set<Link>();
  /** Tokens recently sent, so that no message repeats one (a server may echo what it got). */
  private readonly sent = new Set<string>();
  private refreshing: { rejected: string | undefined; promise: Promise<unknown> } | undefined;
  private closed = false;

  constructor(
    private readonly server: { name: string; url: string },
    private readonly tokens?: McpTokenSource,
    options: McpConnectionOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** Every tool the server has, all pages. */
  listTools(signal?: AbortSignal): Promise<McpToolInfo[]> {
    return this.run(signal, async (client, options) => {
      const tools: McpToolInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? undefined : { cursor }, options);
        for (const tool of page.tools) tools.push({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema as Record<string, unknown> });
        cursor = page.nextCursor;
      } while (cursor);
      return tools;
    });
  }

  /** A tool's result; one that the tool marks `isError` is returned, not thrown. */
  callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<{ content: ContentBlock[]; isError: boolean }> {
    return this.run(signal, async (client, options) => {
      const result = await client.callTool({ name, arguments: args }, undefined, options);
      const content = Array.isArray(result.content) ? result.content.map(toContentBlock) : [];
      if (content.length === 0 && result.structuredContent !== undefined) content.push({ type: 'text', text: JSON.stringify(result.structuredContent) });
      if (content.length === 0) content.push({ type: 'text', text: '(no output)' });
      return { content, isError: result.isError === true };
    });
  }

  /** Cuts every request in flight (they fail as `connection`) and refuses new ones. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.link = undefined;
    await Promise.all([...this.links].map((link) => this.shut(link)));
  }

  /** One operation: connect if needed, bounded by the timeout and `signal`; on 401 one refresh and one retry. */
  private async run<T>(signal: AbortSignal | undefined, operation: (client: Client, options: RequestOptions) => Promise<T>): Promise<T> {
    const closed = () => new McpFailure('connection', `${this.server.name}: the connection is closed`);
    for (let retried = false; ; retried = true) {
      if (this.closed) throw closed();
      signal?.throwIfAborted();
      const link = this.acquire();
      try {
        await abortable(link.ready, signal);
        return await bounded(this.timeoutMs, signal, (options) => operation(link.client, options));
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (this.closed) throw closed();
        // A JSON-RPC error is an answer; anything else may mean the connection is gone (a server
        // that restarted, a session it forgot), so the next operation connects afresh. A refused
        // token is retried on the same connection: the transport reads the token per request.
        if (!(error instanceof Unauthorized) && !isJsonRpcError(error)) this.retire(link);
        if (error instanceof Unauthorized && !retried && this.tokens) {
          await this.refresh(error.token);
          continue;
        }
        throw this.describe(error);
      } finally {
        this.release(link);
      }
    }
  }

  /** The link to use, connecting it if there is none; the caller releases it. */
  private acquire(): Link {
    if (!this.link) {
      const transport = new StreamableHTTPClientTransport(new URL(this.server.url), { fetch: (url, init) => this.fetch(url, init) });
      const client = new Client({ name: 'oma', version: '0.1.0' });
      // Errors reach the caller through the request they belong to; the rest (the optional standalone
      // SSE stream failing, a cancellation that could not be sent) has no one to tell.
      client.onerror = () => {};
      const link: Link = { client, users: 0, retired: false, ready: bounded(this.connectTimeoutMs, undefined, (options) => client.connect(transport, options)) };
      link.ready.catch(() => this.retire(link));
      this.link = link;
      this.links.add(link);
    }
    this.link.users++;
    return this.link;
  }

  private release(link: Link) {
    link.users--;
    if (link.retired && link.users === 0) void this.shut(link);
  }

  /** New operations get a new link; this one closes once its operations settle. */
  private retire(link: Link) {
    if (this.link === link) this.link = undefined;
    link.retired = true;
    if (link.users === 0) void this.shut(link);
  }

  private async shut(link: Link) {
    this.links.delete(link);
    await link.client.close().catch(() => {});
  }

  /** The transport's fetch: adds the current token, bounds the request by its attempt, notes a 401. */
  private async fetch(url: string | URL, init?: RequestInit): Promise<Response> {
    const attempt = attempts.getStore();
    const headers = new Headers(init?.headers);
    const token = await this.tokens?.current().catch((error: unknown) => {
      throw new McpFailure('authentication', `${this.server.name}: no credential could be had: ${(error as Error)?.message ?? String(error)}`);
    });
    if (token !== undefined) {
      this.remember(token);
      headers.set('authorization', `Bearer ${token}`);
    }
    const signals = [init?.signal, attempt?.signal].filter((signal): signal is AbortSignal => signal != null);
    const response = await fetch(url, { ...init, headers, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined });
    if (response.status === 401 && attempt) attempt.rejected ??= { token };
    return response;
  }

  /** One refresh per refused token, however many calls were refused with it at once. */
  private async refresh(rejected: string | undefined): Promise<void> {
    let entry = this.refreshing;
    if (!entry || entry.rejected !== rejected) {
      const promise = Promise.resolve().then(() => this.tokens!.refresh(rejected)); // a sync throw is a refusal too
      const fresh = (entry = { rejected, promise });
      this.refreshing = fresh;
      const forget = () => void (this.refreshing === fresh && (this.refreshing = undefined));
      promise.then(forget, forget);
    }
    try {
      await entry.promise;
    } catch (error) {
      throw new McpFailure('authentication', this.scrub(`${this.server.name}: the server refused the credential (HTTP 401) and it could not be refreshed: ${(error as Error)?.message ?? String(error)}`));
    }
  }

  private remember(token: string) {
    if (this.sent.has(token)) return;
    this.sent.add(token);
    if (this.sent.size > REMEMBERED_TOKENS) this.sent.delete(this.sent.values().next().value!);
  }

  private scrub(text: string): string {
    let scrubbed = text;
    for (const token of this.sent) if (token.length > 0) scrubbed = scrubbed.split(token).join(SCRUBBED);
    return scrubbed;
  }

  /** Any error of an attempt, as the failure the caller sees. */
  private describe(error: unknown): McpFailure {
    if (error instanceof McpFailure) return new McpFailure(error.kind, this.scrub(error.message));
    const [kind, cause] = classify(error);
    return new McpFailure(kind, this.scrub(`${this.server.name}: ${cause}`));
  }
}

/** An error the server answered (not a transport failure, nor the SDK's timeout or closed connection). */
function isJsonRpcError(error: unknown): boolean {
  return error instanceof McpError && error.code !== ErrorCode.ConnectionClosed && error.code !== ErrorCode.RequestTimeout;
}

/** The kind and short cause of an SDK, fetch or attempt error. */
function classify(error: unknown): [McpFailureKind, string] {
  if (error instanceof Unauthorized) return ['authentication', 'the server refused the credential (HTTP 401)'];
  if (error instanceof TimedOut) return ['connection', error.message];
  if (error instanceof StreamableHTTPError) {
    const status = error.code ?? 0;
    if (status === 403) return ['authentication', 'the server refused the credential (HTTP 403)'];
    if (status >= 500) return ['connection', `HTTP ${status}`];
    return ['protocol', status > 0 ? `HTTP ${status}: not an MCP endpoint` : 'the answer is not MCP'];
  }
  if (error instanceof McpError) {
    if (error.code === ErrorCode.ConnectionClosed) return ['connection', 'connection closed'];
    if (error.code === ErrorCode.RequestTimeout) return ['connection', 'timed out'];
    return ['protocol', error.message];
  }
  const network = networkCause(error);
  if (network) return ['connection', network];
  const message = (error as Error)?.message ?? String(error);
  return ['protocol', /protocol version/i.test(message) ? message : `unexpected answer: ${message.slice(0, 200)}`];
}

/** fetch's `TypeError: fetch failed` carries the system error as `cause` (an AggregateError when several addresses were tried). */
function networkCause(error: unknown): string | undefined {
  if (!(error instanceof TypeError)) return undefined;
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  if (code) return NETWORK_CAUSES[code] ?? `network error (${code})`;
  return error.message === 'fetch failed' ? 'network error' : undefined;
}

/** System and undici error codes → the short cause shown. */
const NETWORK_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EAI_NONAME: 'host not found',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
};

/**
 * Runs `work` within `ms` and `signal`: its requests get a signal aborted by either (the SDK
 * cancels the JSON-RPC request, the transport's fetch the HTTP request). The timer and listener go
 * when it settles, so a late abort never cancels a finished request.
 */
async function bounded<T>(ms: number, signal: AbortSignal | undefined, work: (options: RequestOptions) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimedOut(`timed out after ${ms} ms`)), ms);
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const attempt: Attempt = { signal: controller.signal };
  try {
    // The SDK's own timer stays above ours, so ours is the one that fires.
    return await attempts.run(attempt, () => work({ signal: controller.signal, timeout: ms + 1_000 }));
  } catch (error) {
    if (controller.signal.reason instanceof TimedOut) throw controller.signal.reason;
    if (attempt.rejected && error instanceof StreamableHTTPError && error.code === 401) throw new Unauthorized(attempt.rejected.token);
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on, bounded elsewhere). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

const IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

/** Approximate decoded size of base64 data, for describing what is not shown. */
const bytes = (base64: string) => `${Math.floor((base64.length * 3) / 4)} bytes`;

/** One MCP content item as a Messages API block; what the Messages API cannot carry is described in text. */
function toContentBlock(item: Record<string, unknown>): ContentBlock {
  const text = (value: string): ContentBlock => ({ type: 'text', text: value });
  const str = (value: unknown) => (typeof value === 'string' ? value : '');
  switch (item.type) {
    case 'text':
      return text(str(item.text));
    case 'image':
      return IMAGE_TYPES.includes(str(item.mimeType))
        ? { type: 'image', source: { type: 'base64', media_type: item.mimeType as ImageMediaType, data: str(item.data) } }
        : text(`[image of type ${str(item.mimeType) || 'unknown'}, ${bytes(str(item.data))}, not shown: only JPEG, PNG, GIF and WebP can be]`);
    case 'audio':
      return text(`[audio of type ${str(item.mimeType) || 'unknown'}, ${bytes(str(item.data))}, not shown]`);
    case 'resource': {
      const resource = (item.resource ?? {}) as Record<string, unknown>;
      const header = `[resource ${str(resource.uri)}${resource.mimeType ? ` (${str(resource.mimeType)})` : ''}]`;
      return typeof resource.text === 'string' ? text(`${header}\n${resource.text}`) : text(`${header} binary, ${bytes(str(resource.blob))}, not shown`);
    }
    case 'resource_link': {
      const details = [item.mimeType && `type ${str(item.mimeType)}`, item.description && str(item.description)].filter(Boolean).join('; ');
      return text(`[resource link: ${str(item.name) || str(item.uri)} ${str(item.uri)}${details ? ` (${details})` : ''}]`);
    }
    default:
      return text(`[content of type ${String(item.type)}, not shown]`);
  }
}
