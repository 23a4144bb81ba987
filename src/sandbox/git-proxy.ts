import { Agent as HttpAgent, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TrackedServer } from './tracked-server.ts';

/**
 * The host end of git inside a sandbox. A session's repositories need a token, and the token must
 * never enter the sandbox, so git in there talks plain HTTP to `http://127.0.0.1:<port>/<resource
 * id>` (a bridge to a unix socket bound in from the host) and this proxy forwards the smart-HTTP
 * requests to the repository's real URL with the token added. It serves nothing else: only the
 * three smart-HTTP endpoints (`info/refs`, `git-upload-pack`, `git-receive-pack`) of resources that
 * `resolve` knows, so the sandbox cannot use it to reach another repository, path or host. The
 * repository is resolved on every request, so a rotated token is used from the next operation on.
 * An upstream that refuses the credential becomes a 403 without a challenge, so git fails with our
 * message instead of prompting for a password it could never have.
 */

export interface GitRepository {
  /** `https://host/owner/repo(.git)`; http: is allowed too (a forge on the host, tests). */
  url: string;
  token: string | null;
}

/**
 * One operation through the proxy, reported once its response has ended. POSTs are operations
 * (`ls-refs`, `fetch`, `push`); a GET of `info/refs` is reported only when git stops there (the
 * upstream refused or failed, status ≥ 400); refused requests are `refused`. Before a push bigger
 * than its http.postBuffer git probes with an empty POST, which is reported as a push too. Never
 * holds a secret: no token, no Authorization header, no upstream error body.
 */
export interface GitOperation {
  resourceId: string | null;
  /** The repository URL, without credentials or query. */
  repository: string | null;
  operation: 'fetch' | 'push' | 'ls-refs' | 'refused';
  /** false when the proxy refused the request itself. */
  allowed: boolean;
  /** The status the sandbox got; 0 when it went away before an answer. */
  status: number;
  durationMs: number;
  /** Request body bytes from the sandbox, and response body bytes to it, as sent (possibly compressed). */
  bytesUp: number;
  bytesDown: number;
  reason?: string;
}

export interface GitProxyOptions {
  listen: { socketPath: string } | { port: number; host?: string };
  /** The repository behind a resource id of the session, or undefined when it has none by that id. Called on every request. */
  resolve: (resourceId: string) => Promise<GitRepository | undefined>;
  onOperation?: (operation: GitOperation) => void;
  /** Basic auth username sent with the token (GitHub wants `x-access-token`, GitLab takes any). */
  username?: string;
}

/** How long an upstream may take to accept a connection before the sandbox gets a 502. */
const CONNECT_TIMEOUT_MS = 10_000;
const SUFFIXES = ['info/refs', 'git-upload-pack', 'git-receive-pack'] as const;
type Suffix = (typeof SUFFIXES)[number];
/** What git sends that the upstream needs; anything else (authorization, cookies, proxy-*) stays behind. */
const REQUEST_HEADERS = ['content-type', 'accept', 'content-encoding', 'content-length', 'git-protocol', 'user-agent', 'accept-encoding'];
/** What git needs of the answer; no WWW-Authenticate, Set-Cookie or Location ever reaches the sandbox. */
const RESPONSE_HEADERS = ['content-type', 'content-encoding', 'cache-control', 'content-length'];

type Target = { resourceId: string; suffix: Suffix; query: string };
type Refusal = { status: 403 | 404 | 503; reason: string; resourceId?: string };

export class GitProxy {
  private readonly server: TrackedServer;
  /** Keep-alive connections to upstreams, shared across operations (a clone is 3 requests). */
  private readonly agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  private readonly username: string;

  private constructor(private readonly options: GitProxyOptions) {
    this.username = options.username ?? 'x-access-token';
    // No limit on how long a request body may take: a big push streams at the upstream's pace (the default would cut it at 300 s).
    const server = createServer({ requestTimeout: 0 });
    this.server = new TrackedServer(server);
    // A handler that throws must not become an unhandled rejection: that would take oma down.
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void this.onRequest(request, response).catch(() => response.destroy()));
    server.on('connect', (_request: IncomingMessage, client: Duplex) => this.onConnect(client));
  }

  /**
   * Listen on a unix socket (created with mode 0o666 so a sandbox uid can connect; fails if the path
   * exists) or on a TCP port (host default 127.0.0.1; port 0 picks one, see `port`).
   */
  static async start(options: GitProxyOptions): Promise<GitProxy> {
    const proxy = new GitProxy(options);
    try {
      await proxy.server.listen(options.listen);
    } catch (error) {
      await proxy.close(); // its upstream agents too
      throw error;
    }
    return proxy;
  }

  /** The unix socket listened on, when started with one. */
  get socketPath(): string | undefined {
    return 'socketPath' in this.options.listen ? this.options.listen.socketPath : undefined;
  }

  /** The TCP port listened on (the one picked, for port 0), when started with one; undefined once closed. */
  get port(): number | undefined {
    return this.server.port;
  }

  /** Stop listening (a socket file goes with it) and destroy every open connection. Idempotent. */
  close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
    return this.server.close();
  }

  /** Not a forward proxy: a tunnel would be a way to any host. */
  private onConnect(client: Duplex) {
    client.on('error', () => {});
    const reason = 'oma git proxy: CONNECT is refused: this proxy serves only the session\'s repositories';
    this.report({ resourceId: null, repository: null, operation: 'refused', allowed: false, status: 403, durationMs: 0, bytesUp: 0, bytesDown: 0, reason });
    client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(reason) + 1}\r\nconnection: close\r\n\r\n${reason}\n`);
  }

  private async onRequest(request: IncomingMessage, response: ServerResponse) {
    const started = performance.now();
    const target = parseTarget(request.method ?? '', request.url ?? '');
    if ('reason' in target) return this.refuse(response, request, target, started, null);
    let repository: GitRepository | undefined;
    try {
      repository = await this.options.resolve(target.resourceId);
    } catch {
      // What went wrong (a database error, say) is oma's business, not the sandbox's.
      return this.refuse(response, request, { status: 503, reason: `oma git proxy: repository ${target.resourceId} could not be looked up; try again`, resourceId: target.resourceId }, started, null);
    }
    const upstream = repository && upstreamUrl(repository.url, target);
    if (!repository || !upstream) {
      const reason = repository ? `oma git proxy: repository ${target.resourceId} has no http(s) URL` : `oma git proxy: no repository ${target.resourceId} in this session`;
      return this.refuse(response, request, { status: 404, reason, resourceId: target.resourceId }, started, null);
    }
    this.forward(request, response, target, upstream, repository.token, started);
  }

  private refuse(response: ServerResponse, request: IncomingMessage, refusal: Refusal, started: number, repository: string | null) {
    request.resume(); // drain an unread body, so the connection stays usable
    reply(response, refusal.status, refusal.reason);
    this.report({
      resourceId: refusal.resourceId ?? null,
      repository,
      operation: 'refused',
      allowed: false,
      status: refusal.status,
      durationMs: performance.now() - started,
      bytesUp: 0,
      bytesDown: 0,
      reason: refusal.reason,
    });
  }

  /** The request to the upstream with the token added, its answer streamed back; reported when the answer has ended. */
  private forward(request: IncomingMessage, response: ServerResponse, target: Target, upstream: URL, token: string | null, started: number) {
    const host = upstream.host;
    const headers: OutgoingHttpHeaders = pick(request.headers, REQUEST_HEADERS);
    if (token !== null) headers.authorization = `Basic ${Buffer.from(`${this.username}:${token}`).toString('base64')}`;
    const secure = upstream.protocol === 'https:';
    const outgoing: ClientRequest = (secure ? httpsRequest : httpRequest)(upstream, { method: request.method, headers, agent: secure ? this.agents.https : this.agents.http });
    let bytesUp = 0;
    let bytesDown = 0;
    let first = Buffer.alloc(0);
    let reason: string | undefined;
    request.on('data', (chunk: Buffer) => {
      bytesUp += chunk.length;
      if (first.length < 64) first = Buffer.concat([first, chunk]).subarray(0, 64);
    });
    response.once('close', () => {
      if (!response.writableFinished) outgoing.destroy();
      const status = response.headersSent ? response.statusCode : 0; // 0: the sandbox went away before an answer
      if (target.suffix === 'info/refs' && status < 400) return;
      const operation = target.suffix === 'info/refs' ? (target.query.includes('git-receive-pack') ? 'push' : 'fetch') : classify(target.suffix, request.headers['content-encoding'], first);
      const repository = `${upstream.origin}${upstream.pathname.slice(0, -target.suffix.length - 1)}`;
      this.report({ resourceId: target.resourceId, repository, operation, allowed: true, status, durationMs: performance.now() - started, bytesUp, bytesDown, ...(reason ? { reason } : {}) });
    });

    const fail = (status: number, text: string) => {
      reason = text;
      if (response.headersSent) return void response.destroy();
      request.resume();
      reply(response, status, text);
    };
    outgoing.on('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => outgoing.destroy(new Error(`connecting timed out after ${CONNECT_TIMEOUT_MS / 1_000} s`)), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    outgoing.on('error', (error) => fail(502, `oma git proxy: ${host} could not be reached (${error.message})`));
    outgoing.on('response', (answer) => {
      const status = answer.statusCode ?? 502;
      answer.on('error', () => response.destroy());
      if (status === 401 || status === 403) {
        answer.resume();
        return fail(403, `oma git proxy: ${host} refused the repository's credential (HTTP ${status})`);
      }
      if (status >= 300 && status < 400) {
        answer.resume();
        return fail(502, `oma git proxy: ${host} answered a redirect (HTTP ${status}), which is not followed`);
      }
      answer.on('data', (chunk: Buffer) => (bytesDown += chunk.length));
      response.writeHead(status, answer.statusMessage, pick(answer.headers, RESPONSE_HEADERS));
      answer.pipe(response);
    });
    request.on('error', () => outgoing.destroy());
    request.pipe(outgoing);
  }

  /** A throwing listener is ignored: reporting must not break git. */
  private report(operation: GitOperation) {
    try {
      this.options.onOperation?.(operation);
    } catch {}
  }
}

/**
 * `/<resource id>/<suffix>[?query]` with one of the three smart-HTTP suffixes, the method git uses
 * for it, and for `info/refs` exactly one of the two services. The raw path is matched, nothing
 * decoded or normalised, so `..`, `%2e%2e` and doubled slashes simply do not match.
 */
function parseTarget(method: string, url: string): Target | Refusal {
  if (!url.startsWith('/')) return { status: 403, reason: 'oma git proxy: not a forward proxy: only /<resource id>/… paths are served' };
  const [path = '', query = ''] = url.split(/\?(.*)/s);
  const match = /^\/([A-Za-z0-9_-]{1,128})\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(path);
  const resourceId = /^\/([A-Za-z0-9_-]{1,128})(?:\/|$)/.exec(path)?.[1];
  const only = 'oma git proxy: only info/refs, git-upload-pack and git-receive-pack of a session repository are served';
  if (!match) return { status: 403, reason: only, ...(resourceId ? { resourceId } : {}) };
  const suffix = match[2] as Suffix;
  const expected = suffix === 'info/refs' ? 'GET' : 'POST';
  if (method !== expected) return { status: 403, reason: `oma git proxy: ${suffix} takes ${expected}, not ${method}`, resourceId: match[1]! };
  const queryOk = suffix === 'info/refs' ? query === 'service=git-upload-pack' || query === 'service=git-receive-pack' : query === '';
  if (!queryOk) return { status: 403, reason: 'oma git proxy: only the smart HTTP protocol is served (info/refs?service=git-upload-pack or git-receive-pack)', resourceId: match[1]! };
  return { resourceId: match[1]!, suffix, query };
}

/** The repository URL without a trailing `/`, then `/suffix?query`; undefined unless http(s). Credentials in the URL are dropped. */
function upstreamUrl(repositoryUrl: string, target: Target): URL | undefined {
  if (!URL.canParse(repositoryUrl)) return undefined;
  const base = new URL(repositoryUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return undefined;
  const url = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}/${target.suffix}`);
  url.search = target.query;
  return url;
}

/** push for receive-pack; for upload-pack, protocol v2's `command=ls-refs` in the first pkt-line, else (v0, v2 fetch, gzip) fetch. */
function classify(suffix: Suffix, encoding: string | undefined, first: Buffer): GitOperation['operation'] {
  if (suffix === 'git-receive-pack') return 'push';
  if (encoding && encoding !== 'identity') return 'fetch';
  const length = Number.parseInt(first.subarray(0, 4).toString('latin1'), 16);
  const line = Number.isFinite(length) && length > 4 ? first.subarray(4, length).toString('latin1') : '';
  return line.startsWith('command=ls-refs') ? 'ls-refs' : 'fetch';
}

function pick(headers: IncomingMessage['headers'], names: readonly string[]): OutgoingHttpHeaders {
  return Object.fromEntries(names.flatMap((name) => (headers[name] === undefined ? [] : [[name, headers[name]]])));
}

function reply(response: ServerResponse, status: number, text: string) {
  const body = `${text}\n`;
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}
