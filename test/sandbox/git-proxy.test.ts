import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitProxy, type GitOperation, type GitRepository } from '../../src/sandbox/git-proxy.ts';
import { isolatedGitEnv, startGitServer, startSocatBridge, type GitServer } from '../../src/testing/git-server.ts';

/** A git run on the host's client: no user or system config, no prompt, no proxy, no credential helper. */
async function git(args: string[], options: { cwd: string; home: string; timeoutMs?: number }) {
  const child = spawn('git', ['-c', 'http.proxy=', '-c', 'credential.helper=', ...args], {
    cwd: options.cwd,
    env: { ...isolatedGitEnv(options.home), GIT_ASKPASS: '', SSH_ASKPASS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const code = await new Promise<number | string>((resolve) => child.on('close', (exit, signal) => resolve(exit ?? signal ?? -1)));
  clearTimeout(timeout);
  return { code, stdout, stderr, output: stdout + stderr };
}

/** A raw HTTP/1.1 exchange on a TCP port: what a request git's client would never send gets back. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
      if (/\r\n\r\n[\s\S]*\n$/.test(answer)) socket.end();
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('git proxy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oma-git-proxy-'));
  const home = mkdtempSync(join(tmpdir(), 'oma-git-client-home-'));
  const token = `tok-${randomBytes(12).toString('hex')}`;
  const repositories = new Map<string, GitRepository>();
  const operations: GitOperation[] = [];
  let server: GitServer;
  let proxy: GitProxy;
  let socketProxy: GitProxy;
  let bridge: { port: number; child: ChildProcess };
  let next = 0;

  const resolve = async (id: string) => repositories.get(id);
  const proxyUrl = (id: string) => `http://127.0.0.1:${proxy.port}/${id}`;
  const target = (name: string) => join(dir, `${name}-${next++}`);
  const opsOf = (id: string) => operations.filter((operation) => operation.resourceId === id);

  /** A repository on the git server, registered with the proxy under a fresh resource id. */
  async function resource(name: string, files?: Record<string, string>, options?: Parameters<GitServer['createRepo']>[2]) {
    const url = await server.createRepo(name, files, options);
    const id = `sesrsc_${randomBytes(6).toString('hex')}`;
    repositories.set(id, { url, token });
    return { id, url, bare: join(server.root, `${name}.git`) };
  }

  /** The client's view of everything: its config files and what it printed; must never hold the token. */
  function assertNoToken(texts: string[], checkout?: string) {
    const all = [...texts, ...(checkout ? [readFileSync(join(checkout, '.git', 'config'), 'utf8')] : []), JSON.stringify(operations)];
    for (const text of all) assert.ok(!text.includes(token), 'the token reached the client');
    assert.ok(!all.join('').includes(Buffer.from(`x-access-token:${token}`).toString('base64')), 'the Authorization header reached the client');
  }

  before(async () => {
    server = await startGitServer({ token, root: join(dir, 'upstream') });
    proxy = await GitProxy.start({ listen: { port: 0 }, resolve, onOperation: (operation) => operations.push(operation) });
    socketProxy = await GitProxy.start({ listen: { socketPath: join(dir, 'git.sock') }, resolve, onOperation: (operation) => operations.push(operation) });
    bridge = await startSocatBridge(join(dir, 'git.sock'));
  });

  after(async () => {
    bridge?.child.kill();
    await proxy?.close();
    await socketProxy?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('[GIT-2] clones through the proxy with the token injected, while the client never holds it', async () => {
    const { id } = await resource('clone', { 'README.md': 'hello from upstream\n', 'src/a.txt': 'a\n' });
    const seen = server.requests.length;
    const checkout = target('clone');
    const result = await git(['clone', proxyUrl(id), checkout], { cwd: dir, home });
    assert.equal(result.code, 0, result.output);
    assert.equal(readFileSync(join(checkout, 'README.md'), 'utf8'), 'hello from upstream\n');
    assert.equal(readFileSync(join(checkout, 'src/a.txt'), 'utf8'), 'a\n');
    const upstream = server.requests.slice(seen);
    assert.ok(upstream.length >= 2, 'the git server saw the clone');
    assert.ok(upstream.every((entry) => entry.authorized), 'every request reached the server with the token');
    assertNoToken([result.output], checkout);
  });

  it('[GIT-2] pulls a commit that was pushed upstream directly', async () => {
    const { id, url } = await resource('pull', { 'file.txt': 'one\n' });
    const checkout = target('pull');
    assert.equal((await git(['clone', proxyUrl(id), checkout], { cwd: dir, home })).code, 0);
    // Someone else pushes straight to the server, with the token.
    const other = target('pull-other');
    const header = `http.extraHeader=Authorization: Basic ${Buffer.from(`someone:${token}`).toString('base64')}`;
    assert.equal((await git(['-c', header, 'clone', url, other], { cwd: dir, home })).code, 0);
    writeFileSync(join(other, 'file.txt'), 'two\n');
    assert.equal((await git(['-c', 'user.name=u', '-c', 'user.email=u@x', 'commit', '-qam', 'two'], { cwd: other, home })).code, 0);
    assert.equal((await git(['-c', header, 'push', '-q', 'origin', 'main'], { cwd: other, home })).code, 0);
    const pulled = await git(['pull', '--ff-only'], { cwd: checkout, home });
    assert.equal(pulled.code, 0, pulled.output);
    assert.equal(readFileSync(join(checkout, 'file.txt'), 'utf8'), 'two\n');
    assertNoToken([pulled.output], checkout);
  });

  it('[GIT-2] pushes through the proxy, and the commit lands upstream', async () => {
    const { id, bare } = await resource('push');
    const checkout = target('push');
    assert.equal((await git(['clone', proxyUrl(id), checkout], { cwd: dir, home })).code, 0);
    writeFileSync(join(checkout, 'new.txt'), 'pushed through the proxy\n');
    // Over http.postBuffer (1 MiB), so git streams the pack with chunked encoding.
    const big = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(checkout, 'big.bin'), big);
    await git(['add', 'new.txt', 'big.bin'], { cwd: checkout, home });
    assert.equal((await git(['-c', 'user.name=agent', '-c', 'user.email=agent@oma.invalid', 'commit', '-qm', 'from the sandbox'], { cwd: checkout, home })).code, 0);
    const pushed = await git(['push', 'origin', 'main'], { cwd: checkout, home });
    assert.equal(pushed.code, 0, pushed.output);
    const log = await git(['--git-dir', bare, 'log', '--format=%s', 'main'], { cwd: dir, home });
    assert.equal(log.stdout.split('\n')[0], 'from the sandbox');
    const shown = await git(['--git-dir', bare, 'show', 'main:new.txt'], { cwd: dir, home });
    assert.equal(shown.stdout, 'pushed through the proxy\n');
    const blob = await git(['--git-dir', bare, 'rev-parse', 'main:big.bin'], { cwd: dir, home });
    const local = await git(['hash-object', 'big.bin'], { cwd: checkout, home });
    assert.equal(blob.stdout, local.stdout);
    // Git first probes with an empty POST when the pack is over http.postBuffer, so the pack is the last push.
    const push = opsOf(id).filter((operation) => operation.operation === 'push').at(-1);
    assert.ok(push && push.bytesUp > big.length && push.status === 200, `the pack went up through the proxy: ${JSON.stringify(opsOf(id))}`);
    assertNoToken([pushed.output], checkout);
  });

  it('[GIT-2] clones one branch', async () => {
    const { id } = await resource('branches', { 'README.md': 'main\n' }, { extraBranches: { feature: { 'feature.txt': 'feature work\n' } } });
    const checkout = target('branch');
    const result = await git(['clone', '--branch', 'feature', '--single-branch', proxyUrl(id), checkout], { cwd: dir, home });
    assert.equal(result.code, 0, result.output);
    assert.equal(readFileSync(join(checkout, 'feature.txt'), 'utf8'), 'feature work\n');
    assert.equal((await git(['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: checkout, home })).stdout.trim(), 'feature');
  });

  it('[GIT-2] uses a rotated token from the next operation on', async () => {
    const { id, url } = await resource('rotate', { 'file.txt': 'v1\n' });
    const checkout = target('rotate');
    assert.equal((await git(['clone', proxyUrl(id), checkout], { cwd: dir, home })).code, 0);
    const rotated = `tok-${randomBytes(12).toString('hex')}`;
    server.setToken(rotated);
    try {
      // The upstream now refuses the old token, so the proxy's next fetch fails until the resource is updated…
      const stale = await git(['fetch'], { cwd: checkout, home, timeoutMs: 20_000 });
      assert.notEqual(stale.code, 0);
      repositories.set(id, { url, token: rotated });
      // …and works from the next operation on, without restarting anything.
      const fetched = await git(['fetch'], { cwd: checkout, home });
      assert.equal(fetched.code, 0, fetched.output);
      assert.ok(!fetched.output.includes(rotated) && !readFileSync(join(checkout, '.git', 'config'), 'utf8').includes(rotated));
    } finally {
      server.setToken(token);
      repositories.set(id, { url, token });
    }
  });

  it('[GIT-2] a wrong token fails with the proxy\'s message, without a prompt or a hang', async () => {
    const { id, url } = await resource('wrong');
    repositories.set(id, { url, token: 'not-the-token' });
    const started = Date.now();
    const result = await git(['clone', proxyUrl(id), target('wrong')], { cwd: dir, home, timeoutMs: 20_000 });
    assert.notEqual(result.code, 0);
    assert.notEqual(result.code, 'SIGKILL', 'git hung');
    assert.ok(Date.now() - started < 15_000);
    assert.match(result.stderr, /oma git proxy: 127\.0\.0\.1:\d+ refused the repository's credential \(HTTP 401\)/);
    assert.doesNotMatch(result.stderr, /Username|Password/i);
    const [reported] = opsOf(id);
    assert.deepEqual([reported?.operation, reported?.status, reported?.allowed], ['fetch', 403, true]);
    assert.match(reported?.reason ?? '', /refused the repository's credential/);
  });

  it('[GIT-2] works through the unix socket and a socat bridge, with the sandbox\'s insteadOf rewrite', async () => {
    const { id, url, bare } = await resource('socket', { 'README.md': 'over the socket\n' });
    assert.equal(statSync(join(dir, 'git.sock')).mode & 0o777, 0o666);
    const rewrite = `url.http://127.0.0.1:${bridge.port}/${id}.insteadOf=${url}`;
    const checkout = target('socket');
    const cloned = await git(['-c', rewrite, 'clone', url, checkout], { cwd: dir, home });
    assert.equal(cloned.code, 0, cloned.output);
    assert.equal(readFileSync(join(checkout, 'README.md'), 'utf8'), 'over the socket\n');
    writeFileSync(join(checkout, 'README.md'), 'changed in the sandbox\n');
    await git(['-c', 'user.name=agent', '-c', 'user.email=a@oma.invalid', 'commit', '-qam', 'via socket'], { cwd: checkout, home });
    const pushed = await git(['-c', rewrite, 'push', 'origin', 'main'], { cwd: checkout, home });
    assert.equal(pushed.code, 0, pushed.output);
    assert.equal((await git(['--git-dir', bare, 'log', '-1', '--format=%s', 'main'], { cwd: dir, home })).stdout.trim(), 'via socket');
    assert.deepEqual(
      opsOf(id).map((operation) => operation.operation),
      ['ls-refs', 'fetch', 'push'],
    );
    assertNoToken([cloned.output, pushed.output], checkout);
  });

  it('[GIT-3] refuses a resource id the session does not have, and reports it', async () => {
    const seen = server.requests.length;
    const result = await git(['clone', proxyUrl('sesrsc_unknown'), target('unknown')], { cwd: dir, home, timeoutMs: 20_000 });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /oma git proxy: no repository sesrsc_unknown in this session/);
    assert.equal(server.requests.length, seen, 'nothing reached the git server');
    const [reported] = opsOf('sesrsc_unknown');
    assert.deepEqual([reported?.operation, reported?.allowed, reported?.status], ['refused', false, 404]);
  });

  it('[GIT-3] refuses other paths, methods, CONNECT and absolute-form requests, and reports each', async () => {
    const { id } = await resource('guarded');
    const seen = server.requests.length;
    const before = operations.length;
    const cases = [
      `GET /${id}/../other.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /${id}/objects/info/packs HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /${id}/HEAD HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /${id}/info/refs HTTP/1.1\r\nHost: x\r\n\r\n`, // the dumb protocol
      `GET /${id}/git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n`,
      `PUT /${id}/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
      `GET http://127.0.0.1:${server.url.split(':').at(-1)}/guarded.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n`,
      `CONNECT 127.0.0.1:${server.url.split(':').at(-1)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    ];
    for (const text of cases) {
      const answer = await raw(proxy.port!, text);
      assert.match(answer, /^HTTP\/1\.1 40[34] /, text);
      assert.match(answer, /\r\n\r\noma git proxy: [^\n]+\n$/, text);
    }
    assert.equal(server.requests.length, seen, 'nothing reached the git server');
    const reported = operations.slice(before);
    assert.equal(reported.length, cases.length);
    assert.ok(reported.every((operation) => operation.operation === 'refused' && !operation.allowed && operation.reason?.startsWith('oma git proxy:')));
  });

  it('[GIT-4] reports every fetch and push with status, duration and bytes, and never the token', async () => {
    const { id, url } = await resource('reported', { 'data.txt': randomBytes(5_000).toString('hex') });
    const checkout = target('reported');
    assert.equal((await git(['clone', proxyUrl(id), checkout], { cwd: dir, home })).code, 0);
    writeFileSync(join(checkout, 'more.txt'), 'more\n');
    await git(['add', '.'], { cwd: checkout, home });
    await git(['-c', 'user.name=a', '-c', 'user.email=a@x', 'commit', '-qm', 'more'], { cwd: checkout, home });
    assert.equal((await git(['push', '-q', 'origin', 'main'], { cwd: checkout, home })).code, 0);
    const reported = opsOf(id);
    assert.deepEqual(
      reported.map((operation) => [operation.operation, operation.status, operation.allowed]),
      [
        ['ls-refs', 200, true],
        ['fetch', 200, true],
        ['push', 200, true],
      ],
    );
    for (const operation of reported) {
      assert.equal(operation.repository, url);
      assert.ok(operation.durationMs > 0 && operation.bytesUp > 0 && operation.bytesDown > 0, JSON.stringify(operation));
    }
    assert.ok(reported[1]!.bytesDown > 1_000, 'the pack came down');
    assert.ok(!JSON.stringify(reported).includes(token));
  });

  it('answers 502 with a reason when the upstream cannot be reached or redirects, and follows no redirect', async () => {
    const closed = await freePort();
    repositories.set('sesrsc_down', { url: `http://127.0.0.1:${closed}/repo.git`, token });
    const down = await git(['ls-remote', proxyUrl('sesrsc_down')], { cwd: dir, home, timeoutMs: 20_000 });
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, new RegExp(`oma git proxy: 127\\.0\\.0\\.1:${closed} could not be reached`));
    const redirecting = await new Promise<{ port: number; close(): void; hits: string[] }>((resolveStart) => {
      const hits: string[] = [];
      const listener = createServer((socket) =>
        socket.once('data', (data) => {
          hits.push(String(data).split('\r\n')[0]!);
          socket.end('HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n');
        }),
      );
      listener.listen(0, '127.0.0.1', () => resolveStart({ port: (listener.address() as AddressInfo).port, close: () => listener.close(), hits }));
    });
    try {
      repositories.set('sesrsc_moved', { url: `http://127.0.0.1:${redirecting.port}/repo`, token });
      const answer = await new Promise<{ status: number; location: unknown; body: string }>((done, fail) => {
        request({ host: '127.0.0.1', port: proxy.port, path: '/sesrsc_moved/info/refs?service=git-upload-pack' }, (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => done({ status: response.statusCode ?? 0, location: response.headers.location, body }));
        }).on('error', fail).end();
      });
      assert.equal(answer.status, 502);
      assert.equal(answer.location, undefined);
      assert.match(answer.body, /answered a redirect \(HTTP 301\), which is not followed/);
      assert.deepEqual(redirecting.hits, ['GET /repo/info/refs?service=git-upload-pack HTTP/1.1']);
    } finally {
      redirecting.close();
    }
  });

  it('[GIT-2] forwards only the headers git needs, each way, and replaces the sandbox\'s own credentials', async () => {
    let seenHeaders: Record<string, unknown> = {};
    let seenBody = '';
    const echo = createHttpServer((incoming, outgoing) => {
      seenHeaders = incoming.headers;
      incoming.on('data', (chunk) => (seenBody += chunk));
      incoming.on('end', () => {
        outgoing.writeHead(200, {
          'content-type': 'application/x-git-upload-pack-result',
          'cache-control': 'no-cache',
          'set-cookie': 'session=upstream',
          'www-authenticate': 'Basic realm="x"',
          'x-upstream-secret': 'internal',
        });
        outgoing.end('0000');
      });
    });
    await new Promise<void>((done) => echo.listen(0, '127.0.0.1', done));
    try {
      repositories.set('sesrsc_echo', { url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}/owner/repo.git/`, token });
      const body = '0014command=ls-refs\n0000';
      const answer = await new Promise<{ headers: Record<string, unknown>; body: string }>((done, fail) => {
        const outgoing = request(
          {
            host: '127.0.0.1',
            port: proxy.port,
            method: 'POST',
            path: '/sesrsc_echo/git-upload-pack',
            headers: {
              'content-type': 'application/x-git-upload-pack-request',
              'git-protocol': 'version=2',
              authorization: 'Basic c2FuZGJveDpndWVzcw==',
              'proxy-authorization': 'Basic c2FuZGJveDpndWVzcw==',
              cookie: 'a=b',
              'x-forwarded-for': '10.0.0.1',
            },
          },
          (response) => {
            let text = '';
            response.on('data', (chunk) => (text += chunk));
            response.on('end', () => done({ headers: response.headers, body: text }));
          },
        );
        outgoing.on('error', fail);
        outgoing.end(body);
      });
      assert.equal(seenBody, body);
      assert.equal(seenHeaders.authorization, `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`);
      assert.equal(seenHeaders['git-protocol'], 'version=2');
      for (const name of ['cookie', 'proxy-authorization', 'x-forwarded-for']) assert.equal(seenHeaders[name], undefined, name);
      assert.equal(answer.body, '0000');
      assert.equal(answer.headers['cache-control'], 'no-cache');
      for (const name of ['set-cookie', 'www-authenticate', 'x-upstream-secret']) assert.equal(answer.headers[name], undefined, name);
      const [reported] = opsOf('sesrsc_echo');
      assert.deepEqual([reported?.operation, reported?.repository, reported?.bytesUp], ['ls-refs', `http://127.0.0.1:${(echo.address() as AddressInfo).port}/owner/repo.git`, body.length]);
    } finally {
      echo.closeAllConnections();
      echo.close();
    }
  });

  it('answers 503 without the cause when the repository cannot be looked up', async () => {
    const failing = await GitProxy.start({
      listen: { port: 0 },
      resolve: async () => {
        throw new Error('database password=hunter2 rejected');
      },
    });
    try {
      const answer = await raw(failing.port!, 'GET /sesrsc_x/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 503 /);
      assert.match(answer, /oma git proxy: repository sesrsc_x could not be looked up/);
      assert.doesNotMatch(answer, /hunter2/);
    } finally {
      await failing.close();
    }
  });

  it('close is idempotent and cuts open connections', async () => {
    const extra = await GitProxy.start({ listen: { port: 0 }, resolve });
    const port = extra.port!;
    const socket = connect(port, '127.0.0.1');
    await new Promise((done) => socket.once('connect', done));
    const closed = new Promise((done) => socket.once('close', done));
    await Promise.all([extra.close(), extra.close()]);
    await closed;
    await assert.rejects(raw(port, 'GET / HTTP/1.1\r\n\r\n'));
  });
});
