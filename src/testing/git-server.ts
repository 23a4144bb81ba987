import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes as random } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { serveOnLoopback } from './loopback.ts';

/**
 * A real git smart-HTTP server on 127.0.0.1 for tests and benchmarks: every request runs
 * `git http-backend` as a CGI, so what clients and the git proxy talk to is git's own server side
 * (protocol v2, gzip request bodies, pushes), not an imitation. Like a hosted forge it wants a
 * token: every request must carry Basic auth whose password is the current token (any username),
 * else 401 with a Basic challenge; `setToken` rotates it. Every request is recorded with whether it
 * was authorized, so a test can tell the token reached the server without the client holding it.
 */

export interface GitServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The URL of repository `name` (`<url>/<name>.git`), whether or not it exists. */
  repoUrl(name: string): string;
  /** A bare repository with one commit of `files` on `branch` (default `main`, HEAD points to it); its URL. */
  createRepo(name: string, files?: Record<string, string>, options?: CreateRepoOptions): Promise<string>;
  setToken(token: string): void;
  /** A commit of `files` on top of `branch` (default `main`) of an existing repository, as another user pushing would make. */
  commitUpstream(name: string, files: Record<string, string>, message: string, branch?: string): Promise<void>;
  /** Every request seen, in order. */
  requests: { method: string; path: string; authorized: boolean }[];
  /** Where the bare repositories are: `<root>/<name>.git`. */
  root: string;
  /** Stop the server and, when the root was made here, remove it. */
  close(): Promise<void>;
}

export interface CreateRepoOptions {
  branch?: string;
  /** More branches, each one commit on top of `branch` with these files added or replaced. */
  extraBranches?: Record<string, Record<string, string>>;
  /** Adds `random.bin`, this many incompressible bytes (for transfer benchmarks). */
  randomBytes?: number;
}

const run = promisify(execFile);

/** An environment for git that reads no configuration of the user or the machine. */
export function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
  return env;
}

export async function startGitServer(options: { token: string; root?: string }): Promise<GitServer> {
  const owned = options.root === undefined;
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'oma-git-server-'));
  mkdirSync(root, { recursive: true });
  const home = mkdtempSync(join(tmpdir(), 'oma-git-home-'));
  const env = isolatedGitEnv(home);
  let token = options.token;
  const requests: GitServer['requests'] = [];

  const server = await serveOnLoopback((request, response) => {
    const path = new URL(request.url ?? '/', 'http://git').pathname;
    const user = basicUser(request.headers.authorization, token);
    requests.push({ method: request.method ?? '', path, authorized: user !== undefined });
    if (user === undefined) {
      request.resume();
      response.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
      return void response.end('authentication required\n');
    }
    serveCgi(request, response, { ...env, GIT_PROJECT_ROOT: root, REMOTE_USER: user });
  });

  const git = (args: string[], cwd: string) => run('git', args, { cwd, env, maxBuffer: 1 << 20 });
  const repoUrl = (name: string) => `${server.origin}/${name}.git`;

  return {
    url: server.origin,
    root,
    requests,
    repoUrl,
    setToken(next: string) {
      token = next;
    },
    async createRepo(name, files = { 'README.md': `# ${name}\n` }, repoOptions = {}) {
      const branch = repoOptions.branch ?? 'main';
      const bare = join(root, `${name}.git`);
      const work = mkdtempSync(join(tmpdir(), 'oma-git-work-'));
      try {
        await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, bare], root);
        await git(['config', 'http.receivepack', 'true'], bare);
        await git(['init', '--quiet', `--initial-branch=${branch}`, work], root);
        writeFiles(work, files);
        if (repoOptions.randomBytes) writeFileSync(join(work, 'random.bin'), random(repoOptions.randomBytes));
        await commit(git, work, 'initial commit');
        for (const [extra, extraFiles] of Object.entries(repoOptions.extraBranches ?? {})) {
          await git(['checkout', '--quiet', '-b', extra, branch], work);
          writeFiles(work, extraFiles);
          await commit(git, work, `on ${extra}`);
        }
        await git(['push', '--quiet', bare, '--all'], work);
        // One pack, so a clone reuses compressed objects instead of deflating loose ones every time.
        await git(['repack', '-a', '-d', '-q'], bare);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
      return repoUrl(name);
    },
    async commitUpstream(name, files, message, branch = 'main') {
      const work = mkdtempSync(join(tmpdir(), 'oma-git-work-'));
      try {
        await git(['clone', '--quiet', '--branch', branch, join(root, `${name}.git`), work], root);
        writeFiles(work, files);
        await commit(git, work, message);
        await git(['push', '--quiet', 'origin', branch], work);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async close() {
      await server.close();
      rmSync(home, { recursive: true, force: true });
      if (owned) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The Basic username when the password is `token`, else undefined. */
function basicUser(header: string | undefined, token: string): string | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(colon + 1) !== token) return undefined;
  return decoded.slice(0, colon) || 'git';
}

function writeFiles(dir: string, files: Record<string, string>) {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

async function commit(git: (args: string[], cwd: string) => Promise<unknown>, work: string, message: string) {
  await git(['add', '-A'], work);
  await git(['-c', 'user.name=oma test', '-c', 'user.email=test@oma.invalid', 'commit', '--quiet', '--allow-empty', '-m', message], work);
}

/** One request through `git http-backend` (RFC 3875 CGI): bodies streamed both ways, the CGI `Status:` and headers parsed. */
function serveCgi(request: IncomingMessage, response: ServerResponse, env: NodeJS.ProcessEnv) {
  const url = new URL(request.url ?? '/', 'http://git');
  const cgiEnv: NodeJS.ProcessEnv = {
    ...env,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: request.method ?? 'GET',
    REMOTE_ADDR: request.socket.remoteAddress ?? '127.0.0.1',
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    ...(request.headers['content-length'] !== undefined ? { CONTENT_LENGTH: request.headers['content-length'] } : {}),
    ...(request.headers['content-encoding'] !== undefined ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
    ...(request.headers['git-protocol'] !== undefined ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
  };
  const child = spawn('git', ['http-backend'], { env: cgiEnv, stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdin.on('error', () => {}); // the backend may stop reading early (an error answer); that is its answer, not ours
  request.pipe(child.stdin);
  response.on('close', () => {
    if (!response.writableFinished) child.kill('SIGKILL');
  });
  child.on('error', () => (response.headersSent ? response.destroy() : response.writeHead(500).end('git http-backend did not start\n')));

  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (!end) return;
    child.stdout.off('data', onData);
    const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
    response.writeHead(status, headers);
    response.write(head.subarray(end.at + end.length));
    child.stdout.pipe(response);
  };
  child.stdout.on('data', onData);
  child.stdout.on('end', () => {
    if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' }).end('git http-backend gave no headers\n');
  });
}

function headerEnd(buffer: Buffer): { at: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  return lf >= 0 ? { at: lf, length: 2 } : undefined;
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}

/**
 * The sandbox's bridge, run on the host: socat from a free loopback port to a unix socket (what
 * egressBridgeCommand starts inside a sandbox); resolves once it accepts. `options` are appended
 * to the TCP-LISTEN address (`,nodelay`). Kill `child` to stop it.
 */
export async function startSocatBridge(socketPath: string, options = ''): Promise<{ port: number; child: ChildProcess }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork${options}`, `UNIX-CONNECT:${socketPath}`], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true))).on('error', () => resolve(false));
    });
    if (up) return { port, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error(`socat did not start listening on 127.0.0.1:${port}`);
}
