/**
 * Sandboxes for the hands benchmark: the two providers on a temporary workspace root with oma's
 * default limits, whether bubblewrap can run here, the setup-step wrapper of the TTFT measure, bare
 * shells for the reference ("floor") rows, and a monitor of event-loop stalls.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { loadConfig } from '../../src/config.ts';
import { BubblewrapProvider, bwrapArgs } from '../../src/sandbox/bubblewrap.ts';
import { cgroupSupport } from '../../src/sandbox/cgroups.ts';
import { diskQuotaSupport } from '../../src/sandbox/disk.ts';
import type { Sandbox, SandboxProvider, SandboxRecipe } from '../../src/sandbox/interface.ts';
import { ProcessProvider } from '../../src/sandbox/process.ts';

/**
 * `bubblewrap-again`: oma's defaults, re-provisioning one session whose workspace image exists (a
 * session coming back after its sandbox was reaped); `bubblewrap-dir`: bubblewrap with a plain
 * directory for the workspace (OMA_SANDBOX_DISK_MB=0), for comparison.
 */
export type ProviderName = 'bubblewrap' | 'bubblewrap-again' | 'bubblewrap-dir' | 'process';
export const PROVIDERS: readonly ProviderName[] = ['bubblewrap', 'process'];

/** oma's default sandbox limits (no OMA_SANDBOX_* variable set). */
export const LIMITS = loadConfig({}).sandboxes.limits;

/** A temporary directory for workspaces, removed by `remove`. */
export function workspaceRoot(): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'oma-bench-hands-'));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export function openProvider(name: ProviderName, root: string): SandboxProvider {
  if (name === 'process') return new ProcessProvider({ root });
  return new BubblewrapProvider({ root, limits: name === 'bubblewrap-dir' ? { ...LIMITS, diskBytes: 0 } : LIMITS });
}

let sessions = 0;
/** A recipe for a session id never used before (so a fresh workspace). */
export function freshRecipe(tag: string): SandboxRecipe {
  return { sessionId: `bench-${tag}-${process.pid}-${++sessions}`, workspaceId: 'wrkspc_bench', environmentId: 'env_bench' };
}

/** How bubblewrap runs here, for the notes: as root (own uid + cgroup per sandbox) or as a user (rlimits only). */
export function bubblewrapMode(): string {
  if (process.getuid?.() !== 0) return 'as an ordinary user: bwrap in its own user namespace, no cgroup';
  const cgroups = cgroupSupport();
  const where = cgroups.version === 0 ? `no cgroup (${cgroups.reason})` : `a cgroup v${cgroups.version} per sandbox (${cgroups.controllers.join(', ')})`;
  const mib = (bytes: number) => `${bytes / 1024 / 1024} MiB`;
  return `as root: a spare launcher (unshare → sh, in its cgroup, its spare workspace image mounted) → setpriv → bwrap with its own uid per session and ${where}; limits: memory ${mib(LIMITS.memoryBytes)}, ${LIMITS.pids} pids, ${LIMITS.cpus} cpu, files ${mib(LIMITS.fileBytes)}, /tmp ${mib(LIMITS.tmpBytes)}; workspace ${diskQuotaSupport().supported ? `an ext4 image of ${mib(LIMITS.diskBytes)} (a launcher's spare, made ahead, on a session's first provision; mounted on every later one)` : 'a directory (no quota here)'}`;
}

/** Why bubblewrap cannot be measured here, or undefined when it can (one sandbox started and run). */
export async function bubblewrapUnavailable(root: string): Promise<string | undefined> {
  try {
    const sandbox = await openProvider('bubblewrap', root).provision(freshRecipe('probe'));
    try {
      const output = await sandbox.execute('bash', { command: 'echo ok' });
      if (output.trim() !== 'ok') return `a bubblewrap sandbox answered ${JSON.stringify(output)}`;
    } finally {
      await sandbox.dispose();
    }
    return undefined;
  } catch (error) {
    return `bubblewrap does not run here: ${(error as Error).message}`;
  }
}

/**
 * Wraps a provider so that every sandbox, once started, runs a setup step before it is handed out:
 * `sleep` for a uniform 1.5–2.5 s inside the sandbox, standing for an environment's package installs.
 * The time is drawn from a seeded generator keyed by `keyOf(recipe)` (the benchmark's session
 * number), so a session gets the same setup time in every run and in either mode.
 */
export class SetupStepProvider implements SandboxProvider {
  readonly name: string;
  /** Per provision: when it started (performance.now()), the setup drawn, and the whole provision's time (ms). */
  readonly provisions: { sessionId: string; at: number; setupMs: number; totalMs: number }[] = [];

  constructor(
    private readonly inner: SandboxProvider,
    private readonly setup: { minMs: number; maxMs: number; seed: number },
    private readonly keyOf: (recipe: SandboxRecipe) => number,
  ) {
    this.name = inner.name;
  }

  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    const at = performance.now();
    const setupMs = this.setup.minMs + mulberry32(this.setup.seed + this.keyOf(recipe))() * (this.setup.maxMs - this.setup.minMs);
    const sandbox = await this.inner.provision(recipe);
    try {
      await sandbox.execute('bash', { command: `sleep ${(setupMs / 1_000).toFixed(3)}` });
    } catch (error) {
      await sandbox.dispose();
      throw error;
    }
    this.provisions.push({ sessionId: recipe.sessionId, at, setupMs, totalMs: performance.now() - at });
    return sandbox;
  }
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A persistent bash over pipes with the least protocol that works: `<script>; printf '\n\x1eDONE\x1e\n'`
 * per call, no base64, no token, no subshell. For bubblewrap it runs under bwrap with oma's own
 * arguments (`bwrapArgs`, default limits) but as this process's user, with no setpriv, file-size
 * ulimit or cgroup. The reference
 * for what a round trip over a sandbox's pipes costs at least.
 */
export class BareShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = '';
  private waiting: (() => void) | undefined;

  constructor(name: ProviderName, root: string) {
    const workspace = join(root, freshRecipe('bare').sessionId);
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
    this.child =
      name !== 'process'
        ? spawn('bwrap', bwrapArgs(workspace, [], LIMITS), { env: {}, cwd: '/', detached: true, stdio: 'pipe' })
        : spawn('/bin/bash', ['--noprofile', '--norc'], { cwd: workspace, env: { PATH: '/usr/bin:/bin', HOME: workspace }, detached: true, stdio: 'pipe' });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      if (this.waiting && this.buffer.includes('\x1eDONE\x1e\n')) {
        this.buffer = '';
        const done = this.waiting;
        this.waiting = undefined;
        done();
      }
    });
    this.child.stderr.on('data', () => {});
    this.child.stdin.on('error', () => {});
    this.child.once('error', () => {});
  }

  run(script: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the bare shell exited'));
      this.child.once('exit', onExit);
      this.waiting = () => {
        this.child.off('exit', onExit);
        resolve();
      };
      this.child.stdin.write(`${script}; printf '\\n\\036DONE\\036\\n'\n`);
    });
  }

  async kill() {
    const exited = new Promise<void>((resolve) => (this.child.exitCode !== null || this.child.signalCode !== null ? resolve() : this.child.once('exit', () => resolve())));
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
    await exited;
  }
}

/**
 * The longest event-loop stall within a window (ms), from a 1 ms-resolution `monitorEventLoopDelay`:
 * synchronous work (spawn, file-system calls) that delays every
 * other session served by the process. The histogram records the intervals between its timer's
 * runs from the second run on, so `start` waits for the timer to have run and `stop` lets it run
 * once more after the window (a stall at either edge would be missed otherwise); the interval's own
 * 1 ms is subtracted. Time the window itself inside, between the two.
 */
export class StallMonitor {
  private readonly histogram = monitorEventLoopDelay({ resolution: 1 });

  async start() {
    this.histogram.reset();
    this.histogram.enable();
    await sleep(2);
  }

  async stop(): Promise<number> {
    await sleep(2);
    this.histogram.disable();
    const max = this.histogram.count > 0 ? Math.max(0, this.histogram.max / 1e6 - 1) : 0;
    this.histogram.reset();
    return max;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
