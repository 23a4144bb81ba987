import { lookup } from 'node:dns/promises';
import { createServer, request as forward, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { connect, isIP, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isPrivateAddress } from './addresses.ts';
import { TrackedServer } from './tracked-server.ts';

/**
 * The one way out of a sandbox. Sandboxes have no network of their own; a unix socket bound into
 * them reaches this HTTP forward proxy on the host, which lets through only hosts the policy allows:
 * `CONNECT host:port` tunnels (HTTPS, git, any TCP) and absolute-form plain HTTP requests (what apt,
 * pip and npm send to an http proxy). A name is resolved once and the connection goes to that
 * address, so a name cannot be re-pointed between the check and the use (DNS rebinding). Private,
 * loopback and link-local addresses (the host's own services: oma, its database, cloud metadata) are
 * refused unless an entry names that host literally, which is how a registry mirror on the host is
 * allowed. Inside the sandbox, `egressBridgeCommand` bridges 127.0.0.1:3128 to the socket and
 * `egressEnv` points the usual proxy variables at it.
 */

export interface EgressPolicy {
  /** Hosts that may be reached: `example.com` (that host), `*.example.com` (subdomains and itself),
   *  optionally with `:port` (else any port), `*` (any host, never a private address). Empty → nothing allowed. */
  allowedHosts: string[];
}

/** One request or tunnel, allowed or refused (then with the reason the sandbox was told). */
export interface EgressDecision {
  method: string;
  host: string;
  port: number;
  allowed: boolean;
  reason?: string;
}

/** Where the bridge listens inside a sandbox (squid's customary port). */
export const EGRESS_PORT = 3128;
/** How long an upstream may take to accept a connection before the sandbox gets a 502. */
const CONNECT_TIMEOUT_MS = 10_000;

type Entry = { host: string; wildcard: boolean; port?: number };

type Verdict = { addresses: string[] } | { reason: string };

export class EgressProxy {
  /** Client connections and upstream sockets: close() destroys them all. */
  private readonly server: TrackedServer;
  private readonly entries: Entry[];

  private constructor(
    readonly socketPath: string,
    policy: EgressPolicy,
    private readonly onDecision?: (decision: EgressDecision) => void,
  ) {
    this.entries = policy.allowedHosts.map(parseEntry);
    const server = createServer();
    this.server = new TrackedServer(server);
    // A handler that throws must not become an unhandled rejection: that would take oma down.
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void this.onRequest(request, response).catch(() => response.destroy()));
    server.on('connect', (request: IncomingMessage, client: Duplex, head: Buffer) => void this.onConnect(request, client, head).catch(() => client.destroy()));
  }

  /** Listen on `socketPath` (a unix socket, created with mode 0o666 so a sandbox uid can connect). Fails if the path exists. */
  static async start(options: { socketPath: string; policy: EgressPolicy; onDecision?: (decision: EgressDecision) => void }): Promise<EgressProxy> {
    const proxy = new EgressProxy(options.socketPath, options.policy, options.onDecision);
    await proxy.server.listen({ socketPath: options.socketPath });
    return proxy;
  }

  /** Stop listening (the socket file goes with it) and destroy every open connection and tunnel. Idempotent. */
  close(): Promise<void> {
    return this.server.close();
  }

  private async onConnect(request: IncomingMessage, client: Duplex, head: Buffer) {
    client.on('error', () => {});
    const target = parseAuthority(request.url ?? '');
    if (!target) {
      this.report({ method: 'CONNECT', host: request.url ?? '', port: 0, allowed: false, reason: 'not a host:port' });
      return void client.end(statusText(400, 'oma egress: CONNECT needs host:port'));
    }
    const upstream = await this.open('CONNECT', target.host, target.port);
    if (!(upstream instanceof Socket)) return void client.end(statusText(upstream.status, upstream.text));
    if (client.destroyed) return void upstream.destroy();
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    // Half-closes pass through (pipe ends the other side); an error or a vanished client ends both.
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.end());
  }

  private async onRequest(request: IncomingMessage, response: ServerResponse) {
    const url = URL.canParse(request.url ?? '') ? new URL(request.url ?? '') : undefined;
    if (url?.protocol !== 'http:') {
      this.report({ method: request.method ?? '', host: url?.host ?? '', port: 0, allowed: false, reason: `not an absolute http:// URL: ${request.url}` });
      return reply(response, 400, 'oma egress: this is a proxy: send absolute http:// URLs, or CONNECT host:port for anything else');
    }
    const host = normalizeHost(url.hostname.replace(/^\[|\]$/g, ''));
    const port = Number(url.port || 80);
    const socket = await this.open(request.method ?? 'GET', host, port);
    if (!(socket instanceof Socket)) return reply(response, socket.status, socket.text);
    if (request.socket.destroyed) return void socket.destroy();
    // The Host is the target's, whatever the client sent (RFC 9112 §3.2.2): the policy allowed that host, not another virtual host at its address.
    const headers = { ...withoutHopByHop(request.headers), host: url.host };
    const upstream = forward({ method: request.method, path: `${url.pathname}${url.search}`, headers, createConnection: () => socket });
    upstream.on('response', (answer) => {
      answer.on('error', () => response.destroy());
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
      answer.pipe(response);
    });
    upstream.on('error', (error) => (response.headersSent ? response.destroy() : reply(response, 502, say(host, port, `failed (${error.message})`))));
    request.on('error', () => upstream.destroy());
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  }

  /** Every request and tunnel is reported, malformed ones too; a throwing listener is ignored. */
  private report(decision: EgressDecision) {
    try {
      this.onDecision?.(decision);
    } catch {}
  }

  /** Decide, report, and connect: a socket, or what to answer instead. */
  private async open(method: string, host: string, port: number): Promise<Socket | { status: 403 | 502; text: string }> {
    const verdict = await decide(this.entries, host, port);
    this.report({ method, host, port, allowed: !('reason' in verdict), ...('reason' in verdict ? { reason: verdict.reason } : {}) });
    if ('reason' in verdict) return { status: 403, text: say(host, port, `is not allowed (${verdict.reason})`) };
    return this.connectPinned(verdict.addresses, port).catch((error: Error) => ({ status: 502 as const, text: say(host, port, `could not be reached (${error.message})`) }));
  }

  /** A connection to the first of the resolved addresses that accepts; never a new lookup. */
  private connectPinned(addresses: string[], port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const attempt = (index: number, failure: Error) => {
        const address = addresses[index];
        if (address === undefined || this.server.closed) return reject(this.server.closed ? new Error('the egress proxy is closed') : failure);
        const socket = connect({ host: address, port });
        this.server.track(socket);
        let connected = false;
        let error = failure;
        socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`connecting to ${address} timed out`)));
        socket.once('error', (cause: Error) => (error = cause));
        socket.once('connect', () => {
          connected = true;
          socket.setTimeout(0);
          resolve(socket);
        });
        socket.once('close', () => {
          if (!connected) attempt(index + 1, error);
        });
      };
      attempt(0, new Error('no address to connect to'));
    });
  }
}

/** Refused unless listed; private addresses only for a host listed literally (not by wildcard). */
async function decide(entries: Entry[], host: string, port: number): Promise<Verdict> {
  const listed = match(entries, host, port);
  if (listed === 'none') return { reason: 'not in the allowed hosts' };
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((entry) => entry.address);
  if (addresses.length === 0) return { reason: 'could not be resolved' };
  const local = addresses.find(isPrivateAddress);
  if (local && listed !== 'literal') return { reason: `${local} is a private or local address, reachable only for a host listed by name, not by wildcard` };
  return { addresses };
}

function match(entries: Entry[], host: string, port: number): 'none' | 'wildcard' | 'literal' {
  let found: 'none' | 'wildcard' = 'none';
  for (const entry of entries) {
    if (entry.port !== undefined && entry.port !== port) continue;
    if (!entry.wildcard && entry.host === '*') found = 'wildcard'; // any public host (unrestricted networking)
    else if (!entry.wildcard && entry.host === host) return 'literal';
    if (entry.wildcard && (host === entry.host || host.endsWith(`.${entry.host}`))) found = 'wildcard';
  }
  return found;
}

/** `example.com`, `*.example.com`, `example.com:443`, `127.0.0.1:4873`, `[::1]:4873`, `::1`. */
function parseEntry(text: string): Entry {
  const wildcard = text.trim().startsWith('*.');
  const rest = text.trim().slice(wildcard ? 2 : 0);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]] : rest.split(':').length === 2 ? rest.split(':') : [rest, undefined];
  return { host: normalizeHost(host ?? ''), wildcard, ...(port ? { port: Number(port) } : {}) };
}

/** The CONNECT target: `host:port` or `[v6]:port`. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const parts = /^(?:\[([0-9a-f:.]+)\]|([^\s:/@[\]]+)):(\d{1,5})$/i.exec(authority);
  const port = Number(parts?.[3]);
  if (!parts || port < 1 || port > 65_535) return undefined;
  return { host: normalizeHost(parts[1] ?? parts[2] ?? ''), port };
}

/** Lower case, no trailing dot, IPv6 in its canonical spelling, so an entry and a request compare equal. */
function normalizeHost(host: string): string {
  const bare = host.toLowerCase().replace(/\.$/, '');
  return isIP(bare) === 6 && URL.canParse(`http://[${bare}]/`) ? new URL(`http://[${bare}]/`).hostname.slice(1, -1) : bare;
}

const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** Headers for the next hop: without hop-by-hop ones, including those the Connection header lists. */
function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = String(headers.connection ?? '').split(',').map((name) => name.trim().toLowerCase());
  const drop = new Set([...HOP_BY_HOP, ...listed]);
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !drop.has(name)));
}

/** What the sandbox reads about a target: `oma egress: host:port is not allowed (reason)`. */
function say(host: string, port: number, what: string): string {
  return `oma egress: ${isIP(host) === 6 ? `[${host}]` : host}:${port} ${what}`;
}

function reply(response: ServerResponse, status: number, text: string) {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** A whole HTTP response written on a raw CONNECT socket, which is then ended. */
function statusText(status: 400 | 403 | 502, text: string): string {
  const phrase = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway' }[status];
  return `HTTP/1.1 ${status} ${phrase}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`;
}

/** Shell line, run in the background inside a sandbox, bridging 127.0.0.1:`port` to the proxy's socket there. */
export function egressBridgeCommand(socketInSandbox: string, port = EGRESS_PORT): string {
  // socat reads `,` and `:` inside an address as its own syntax, so only plain paths are accepted.
  if (!/^\/[\w./-]+$/.test(socketInSandbox)) throw new Error(`egress socket path ${socketInSandbox} must be absolute and plain (letters, digits, . _ - /)`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`egress port ${port} is not a TCP port`);
  // nodelay: without it, Nagle's algorithm meeting delayed ACKs added ~40 ms to every git exchange (bench/git).
  return `socat TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay UNIX-CONNECT:${socketInSandbox}`;
}

/** Environment a sandbox process needs to use the bridge: the proxy variables curl, pip, apt, git and npm read, and no exceptions. */
export function egressEnv(port = EGRESS_PORT): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, npm_config_proxy: url, npm_config_https_proxy: url, NO_PROXY: '', no_proxy: '' };
}
