/**
 * Git proxy benchmark: what the host-side git proxy (src/sandbox/git-proxy.ts) adds to a clone.
 *
 *   npm run bench -- git
 *
 * A repository of one commit holding ~10 MiB of incompressible bytes (plus a README) is served by
 * the test git server (src/testing/git-server.ts: `git http-backend` as CGI behind Basic auth, on
 * 127.0.0.1), repacked so every clone streams the same pack. Each round clones it once per column,
 * with the host's git, one after the other, never two at once:
 * - direct: `git clone` of the server's URL, the token given to the client with
 *   `-c http.extraHeader=Authorization: Basic …`;
 * - via proxy, bridge without nodelay: `git clone` of `http://127.0.0.1:<port>/<resource id>`, where a
 *   socat bridge (`TCP-LISTEN:…,bind=127.0.0.1,reuseaddr,fork` → `UNIX-CONNECT:`) forwards to the
 *   proxy's unix socket, which adds the token and forwards to the same server;
 * - via proxy (sandbox path): the same with `,nodelay` on socat's TCP side (TCP_NODELAY), as
 *   egressBridgeCommand spells it since this benchmark showed what Nagle's algorithm meeting delayed
 *   ACKs cost on the bridge (~40 ms a clone): the path git takes from inside a sandbox, minus bubblewrap;
 * - proxy on TCP, no bridge: the same proxy listening on a loopback port, cloned without socat, to
 *   tell the bridge's share of the added time from the proxy's.
 * One unrecorded warm-up round, then ROUNDS recorded ones; each clone is timed from spawn to exit
 * (`performance.now()`), into a fresh directory removed afterwards. The added latency is the
 * difference of the medians, and the percentiles of the per-round differences. Everything (server,
 * proxies, socat, clients) runs on this machine, and the proxies share this process's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GitProxy, type GitOperation } from '../../src/sandbox/git-proxy.ts';
import { isolatedGitEnv, startGitServer, startSocatBridge } from '../../src/testing/git-server.ts';
import { environmentLine, ms, summarise } from '../lib/stats.ts';
import { Table } from '../lib/table.ts';

const ROUNDS = 10;
const RANDOM_BYTES = 10 * 1024 * 1024;
const RESOURCE_ID = 'sesrsc_bench';
const COLUMNS = ['direct', 'via proxy (sandbox path)', 'via proxy, bridge without nodelay', 'proxy on TCP, no bridge'] as const;
type Column = (typeof COLUMNS)[number];

export async function main(): Promise<void> {
  console.log(`Environment: ${environmentLine()}`);
  const dir = mkdtempSync(join(tmpdir(), 'oma-bench-git-'));
  const token = randomBytes(20).toString('hex');
  const server = await startGitServer({ token, root: join(dir, 'upstream') });
  const operations: GitOperation[] = [];
  const proxies: GitProxy[] = [];
  const bridges: ChildProcess[] = [];
  try {
    const url = await server.createRepo('bench', { 'README.md': '# bench\n' }, { randomBytes: RANDOM_BYTES });
    const resolve = async (id: string) => (id === RESOURCE_ID ? { url, token } : undefined);
    const socketProxy = await GitProxy.start({ listen: { socketPath: join(dir, 'git.sock') }, resolve, onOperation: (operation) => operations.push(operation) });
    const tcpProxy = await GitProxy.start({ listen: { port: 0 }, resolve });
    proxies.push(socketProxy, tcpProxy);
    const bridge = await startSocatBridge(join(dir, 'git.sock'), '');
    const fastBridge = await startSocatBridge(join(dir, 'git.sock'), ',nodelay');
    bridges.push(bridge.child, fastBridge.child);
    const home = join(dir, 'home');
    const header = `http.extraHeader=Authorization: Basic ${Buffer.from(`bench:${token}`).toString('base64')}`;
    const variants: Record<Column, () => Promise<number>> = {
      direct: () => clone(['-c', header, 'clone', '--quiet', url], dir, home),
      'via proxy, bridge without nodelay': () => clone(['clone', '--quiet', `http://127.0.0.1:${bridge.port}/${RESOURCE_ID}`], dir, home),
      'via proxy (sandbox path)': () => clone(['clone', '--quiet', `http://127.0.0.1:${fastBridge.port}/${RESOURCE_ID}`], dir, home),
      'proxy on TCP, no bridge': () => clone(['clone', '--quiet', `http://127.0.0.1:${tcpProxy.port}/${RESOURCE_ID}`], dir, home),
    };

    process.stderr.write('warm-up…\n');
    for (const column of COLUMNS) await variants[column]();
    const samples = Object.fromEntries(COLUMNS.map((column) => [column, [] as number[]])) as Record<Column, number[]>;
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
      for (const column of COLUMNS) samples[column].push(await variants[column]());
    }

    const packBytes = operations.filter((operation) => operation.operation === 'fetch' && operation.status === 200).at(-1)?.bytesDown ?? NaN;
    const mebibytes = packBytes / 1024 / 1024;
    const table = new Table(
      `git clone of a ${(RANDOM_BYTES / 1024 / 1024).toFixed(0)} MiB repository, direct vs through the git proxy`,
      `${ROUNDS} rounds after 1 warm-up, each one clone per column in turn, timed spawn → exit; pack ${mebibytes.toFixed(1)} MiB`,
      COLUMNS,
    );
    const direct = summarise(samples.direct);
    for (const column of COLUMNS) {
      const own = summarise(samples[column]);
      table.record('clone p50 (ms)', column, ms(own.p50));
      table.record('clone p99 (ms)', column, ms(own.p99));
      table.record('throughput at p50 (MiB/s)', column, (mebibytes / (own.p50 / 1000)).toFixed(0));
      if (column === 'direct') continue;
      const added = summarise(samples[column].map((value, round) => value - samples.direct[round]!));
      table.record('added, p50 − p50 (ms)', column, ms(own.p50 - direct.p50));
      table.record('added, p50 of per-round differences (ms)', column, ms(added.p50));
      table.record('added, p99 of per-round differences (ms)', column, ms(added.p99));
    }
    table.print();
    console.log(`\nOperations reported by the socket proxy: ${operations.length} (${(ROUNDS + 1) * 4} expected: ls-refs and fetch per clone, two bridges).`);
  } finally {
    for (const child of bridges) child.kill();
    for (const proxy of proxies) await proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One clone into a fresh directory, removed afterwards; its wall time in ms. Throws when git fails. */
async function clone(args: string[], dir: string, home: string): Promise<number> {
  const target = mkdtempSync(join(dir, 'clone-'));
  const started = performance.now();
  const child = spawn('git', ['-c', 'http.proxy=', '-c', 'credential.helper=', ...args, join(target, 'repo')], { cwd: dir, env: isolatedGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const elapsed = performance.now() - started;
  rmSync(target, { recursive: true, force: true });
  if (code !== 0) throw new Error(`git clone failed (${code}): ${stderr.trim()}`);
  return elapsed;
}
