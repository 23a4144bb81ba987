import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EgressProxy, egressBridgeCommand, egressEnv, type EgressDecision } from '../../src/sandbox/egress.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';

/** What the origin saw of a request, echoed back as JSON so tests can check what the proxy forwarded. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An HTTP request sent to the proxy's unix socket in absolute form, as a client configured with http_proxy does. */
function viaProxy(socketPath: string, url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const outgoing = request({ socketPath, path: url, method: options.method ?? 'GET', headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** Everything a socket sends until it ends (or `until` matches what has arrived so far). */
function readFrom(socket: Socket, until?: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (until?.(text)) finish();
    };
    const finish = () => {
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('end', finish);
    socket.once('error', reject);
  });
}

/** Open a CONNECT tunnel through the proxy; `early` rides in the same write as the request (the "head" bytes). */
async function tunnel(socketPath: string, target: string, early = '') {
  const socket = connect(socketPath);
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n${early}`);
  const response = await readFrom(socket, (text) => text.includes('\r\n\r\n'));
  return { socket, response };
}

describe('sandbox egress proxy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oma-egress-'));
  const origin = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const seen: Seen = { method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') };
      outgoing.writeHead(incoming.method === 'POST' ? 201 : 200, { 'content-type': 'application/json', 'x-origin': 'allowed' });
      outgoing.end(JSON.stringify(seen));
    });
  });
  const refusedOrigin = createServer((_incoming, outgoing) => outgoing.end('the refused origin was reached'));
  const echo = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  let originPort = 0;
  let refusedPort = 0;
  let echoPort = 0;
  let closedPort = 0;
  let proxy: EgressProxy;
  const decisions: EgressDecision[] = [];

  before(async () => {
    originPort = await listen(origin);
    refusedPort = await listen(refusedOrigin);
    echoPort = await listen(echo);
    const unused = createTcpServer();
    closedPort = await listen(unused);
    await closeServer(unused);
    proxy = await EgressProxy.start({
      socketPath: join(dir, 'egress.sock'),
      policy: { allowedHosts: [`127.0.0.1:${originPort}`, `127.0.0.1:${echoPort}`, `127.0.0.1:${closedPort}`, '*.localhost', `localhost:${originPort}`] },
      onDecision: (decision) => decisions.push(decision),
    });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([closeServer(origin), closeServer(refusedOrigin), closeServer(echo)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('[HANDS-12] plain HTTP to an allowed origin is forwarded with the target host as Host, the body and the status, without hop-by-hop headers', async () => {
    const got = await viaProxy(proxy.socketPath, `http://127.0.0.1:${originPort}/path?q=1`, { headers: { host: 'another-virtual-host.internal' } });
    assert.equal(got.status, 200);
    assert.equal(got.headers['x-origin'], 'allowed');
    const seen = JSON.parse(got.body) as Seen;
    assert.equal(seen.url, '/path?q=1', 'the origin gets the origin-form path');
    assert.equal(seen.headers.host, `127.0.0.1:${originPort}`);

    const posted = await viaProxy(proxy.socketPath, `http://127.0.0.1:${originPort}/upload`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'proxy-authorization': 'Basic c2VjcmV0', connection: 'x-hop', 'x-hop': 'drop me', 'x-kept': 'keep me' },
      body: 'a posted body',
    });
    assert.equal(posted.status, 201);
    const seenPost = JSON.parse(posted.body) as Seen;
    assert.equal(seenPost.method, 'POST');
    assert.equal(seenPost.body, 'a posted body');
    assert.equal(seenPost.headers['x-kept'], 'keep me');
    assert.equal(seenPost.headers['proxy-authorization'], undefined);
    assert.equal(seenPost.headers['x-hop'], undefined);
    assert.deepEqual(decisions.find((decision) => decision.method === 'POST'), { method: 'POST', host: '127.0.0.1', port: originPort, allowed: true });
  });

  it('[HANDS-12] a host not in the list gets 403 with the reason, and the refusal is reported', async () => {
    const got = await viaProxy(proxy.socketPath, `http://127.0.0.1:${refusedPort}/`);
    assert.equal(got.status, 403);
    assert.match(got.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(got.body, `oma egress: 127.0.0.1:${refusedPort} is not allowed (not in the allowed hosts)`);
    const decision = decisions.find((entry) => entry.port === refusedPort);
    assert.equal(decision?.allowed, false);
    assert.equal(decision?.host, '127.0.0.1');
    assert.ok(decision?.reason);

    const originForm = await viaProxy(proxy.socketPath, '/not-a-proxy-request');
    assert.equal(originForm.status, 400);
    assert.equal(decisions.at(-1)?.allowed, false, 'a malformed request is reported too');
  });

  it('[HANDS-12] a wildcard entry does not unlock loopback; a literal host entry does, on its port only', async () => {
    const wildcard = await viaProxy(proxy.socketPath, `http://localhost:${refusedPort}/`);
    assert.equal(wildcard.status, 403);
    assert.match(wildcard.body, /private/);
    const literal = await viaProxy(proxy.socketPath, `http://localhost:${originPort}/`);
    assert.equal(literal.status, 200);
    assert.equal((JSON.parse(literal.body) as Seen).headers.host, `localhost:${originPort}`);
  });

  it('[HANDS-12] an allowed origin that is down gives 502', async () => {
    const got = await viaProxy(proxy.socketPath, `http://127.0.0.1:${closedPort}/`);
    assert.equal(got.status, 502);
    assert.match(got.body, /ECONNREFUSED/);
  });

  it('[HANDS-12] a CONNECT tunnel to an allowed TCP server carries bytes both ways; a refused one gets 403 and is ended', async () => {
    const { socket, response } = await tunnel(proxy.socketPath, `127.0.0.1:${echoPort}`, 'early|');
    try {
      assert.match(response, /^HTTP\/1\.1 200 Connection Established\r\n\r\n/);
      const rest = response.slice(response.indexOf('\r\n\r\n') + 4);
      const echoed = readFrom(socket, (text) => (rest + text).includes('ping'));
      socket.write('ping');
      assert.equal(rest + (await echoed), 'early|ping');
    } finally {
      socket.destroy();
    }
    assert.ok(decisions.some((decision) => decision.method === 'CONNECT' && decision.port === echoPort && decision.allowed));

    const refused = connect(proxy.socketPath);
    refused.write(`CONNECT 127.0.0.1:${refusedPort} HTTP/1.1\r\nHost: 127.0.0.1:${refusedPort}\r\n\r\n`);
    const text = await readFrom(refused); // resolves only once the proxy ends the socket
    refused.destroy();
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.ok(text.endsWith(`oma egress: 127.0.0.1:${refusedPort} is not allowed (not in the allowed hosts)`), text);
    assert.ok(decisions.some((decision) => decision.method === 'CONNECT' && decision.port === refusedPort && !decision.allowed));
  });

  it('[HANDS-12] inside a bubblewrap sandbox, only the bridge to the proxy reaches out, and only to allowed hosts', { skip: bwrapMissing(), timeout: 15_000 }, async () => {
    const env = egressEnv();
    assert.equal(env.HTTPS_PROXY, 'http://127.0.0.1:3128');
    assert.equal(env.NO_PROXY, '');
    const script = [
      `${egressBridgeCommand('/run/oma/egress.sock')} &`,
      'sleep 0.3',
      `echo "proxied: $(curl -sS -x http://127.0.0.1:3128 http://127.0.0.1:${originPort}/from-sandbox 2>&1)"`,
      `echo "tunnelled: $(curl -sS -p -x http://127.0.0.1:3128 http://127.0.0.1:${originPort}/through-connect 2>&1)"`,
      `echo "direct: $(curl -sS -m 2 http://127.0.0.1:${originPort}/ 2>&1)"`,
      `echo "refused: $(curl -sS -x http://127.0.0.1:3128 http://127.0.0.1:${refusedPort}/ 2>&1)"`,
    ].join('\n');
    const child = spawn('bwrap', [
      '--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib',
      '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', dir, '/run/oma',
      '/bin/bash', '-c', script,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await new Promise((resolve) => child.once('close', resolve));
    const line = (name: string) => output.split('\n').find((entry) => entry.startsWith(`${name}: `)) ?? `(no ${name} line in: ${output})`;
    assert.equal((JSON.parse(line('proxied').slice('proxied: '.length)) as Seen).url, '/from-sandbox', output);
    assert.equal((JSON.parse(line('tunnelled').slice('tunnelled: '.length)) as Seen).url, '/through-connect', output);
    assert.match(line('direct'), /^direct: curl: \(7\)/, 'without the proxy the sandbox has no way out');
    assert.equal(line('refused'), `refused: oma egress: 127.0.0.1:${refusedPort} is not allowed (not in the allowed hosts)`);
    assert.ok(!output.includes('the refused origin was reached'));
  });

  it('[HANDS-12] close() ends open tunnels promptly, removes only its own socket, and may be called twice', { timeout: 5_000 }, async () => {
    const own = mkdtempSync(join(tmpdir(), 'oma-egress-close-'));
    writeFileSync(join(own, 'neighbour'), 'not the proxy\'s');
    const closing = await EgressProxy.start({ socketPath: join(own, 'egress.sock'), policy: { allowedHosts: [`127.0.0.1:${echoPort}`] } });
    const { socket, response } = await tunnel(closing.socketPath, `127.0.0.1:${echoPort}`);
    socket.on('error', () => {});
    try {
      assert.match(response, /^HTTP\/1\.1 200 /);
      assert.equal(statSync(closing.socketPath).mode & 0o777, 0o666, 'a sandbox uid may connect');
      const ended = new Promise((resolve) => socket.once('close', resolve));
      const late = new Promise((_resolve, reject) => setTimeout(() => reject(new Error('close() waited for an idle tunnel')), 1_000).unref());
      await Promise.race([Promise.all([closing.close(), ended]), late]);
      await closing.close();
      assert.ok(existsSync(join(own, 'neighbour')));
      assert.ok(!existsSync(closing.socketPath), 'the socket it created is gone');
      await assert.rejects(viaProxy(closing.socketPath, `http://127.0.0.1:${echoPort}/`));
    } finally {
      socket.destroy(); // first, so that even a close() that waits for tunnels returns
      await closing.close();
      rmSync(own, { recursive: true, force: true });
    }
  });
});
