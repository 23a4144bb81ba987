/**
 * Provision → first command: for each provider, a new session's sandbox is provisioned and `true`
 * run in it, timed from just before `provision` to `execute` resolving; then the sandbox is disposed
 * (timed too). Providers alternate sample by sample (the order flipping every sample) so that the
 * noise of this VM falls on both alike. Alongside, the floor: the same first command on a bare
 * shell (`BareShell`: bwrap with oma's arguments but no setpriv, cgroup or protocol; plain bash);
 * the time spent in oma's `Cgroup` calls (timed in place); and the longest event-loop stall within
 * each window, since all of this runs on the server's one event loop.
 */
import { performance } from 'node:perf_hooks';
import { Cgroup } from '../../src/sandbox/cgroups.ts';
import type { SandboxProvider } from '../../src/sandbox/interface.ts';
import { ms } from '../lib/stats.ts';
import { coresSince, cpuSnapshot, type CoresUsed } from '../lib/cpu.ts';
import { BareShell, freshRecipe, openProvider, StallMonitor, type ProviderName } from './sandboxes.ts';
import { summarise, Table, TARGETS, type Summary } from './table.ts';

export const STARTUP_SAMPLES = 200;
const STARTUP_WARMUP = 10;
/** Pause after each sample, so one provider's background work does not fall in another's window. */
const SETTLE_MS = 60;

export interface StartupResult {
  /** provision start → first `true` resolved. */
  firstCommand: Summary;
  /** provision start → `provision` resolved (the process spawned, not yet running). */
  provisioned: Summary;
  /** Longest event-loop stall within provision → first command. */
  stallStarting: Summary;
  dispose: Summary;
  /** Longest event-loop stall within dispose. */
  stallDispose: Summary;
  /** The bare shell: spawn → first command's marker back. */
  floor: Summary;
  /** Time in oma's `Cgroup` calls (synchronous): create + add within provision, remove within dispose; undefined when no cgroup was used. */
  cgroupSetup?: Summary;
  cgroupRemove?: Summary;
}

/**
 * Times oma's own `Cgroup` calls in place (wrapping the class's methods for the measure's duration):
 * they are file-system writes the kernel can take milliseconds over (asynchronous since the first run).
 */
function timeCgroups() {
  const spent = { setup: 0, remove: 0, calls: 0 };
  const create = Cgroup.create;
  const add = Cgroup.prototype.add;
  const remove = Cgroup.prototype.remove;
  const timed = async <T>(key: 'setup' | 'remove', run: () => Promise<T>): Promise<T> => {
    const at = performance.now();
    try {
      return await run();
    } finally {
      spent[key] += performance.now() - at;
      spent.calls++;
    }
  };
  Cgroup.create = (name, limits) => timed('setup', () => create.call(Cgroup, name, limits));
  Cgroup.prototype.add = function (pid) {
    return timed('setup', () => add.call(this, pid));
  };
  Cgroup.prototype.remove = function () {
    return timed('remove', () => remove.call(this));
  };
  return {
    spent,
    reset() {
      spent.setup = 0;
      spent.remove = 0;
    },
    restore() {
      Cgroup.create = create;
      Cgroup.prototype.add = add;
      Cgroup.prototype.remove = remove;
    },
  };
}

/** Per provider; and the cores used over the whole measure. */
export async function measureStartup(providers: readonly ProviderName[], root: string): Promise<{ results: Map<ProviderName, StartupResult>; cores: CoresUsed }> {
  const opened = providers.map((name) => ({ name, provider: openProvider(name, root) }));
  const samples = new Map(providers.map((name) => [name, [] as Sample[]]));
  const monitor = new StallMonitor();
  const cgroups = timeCgroups();
  const cpu = cpuSnapshot();
  try {
    for (let run = 0; run < STARTUP_WARMUP + STARTUP_SAMPLES; run++) {
      const order = run % 2 === 0 ? opened : [...opened].reverse();
      for (const { name, provider } of order) {
        const sample = await sampleOnce(name, provider, root, monitor, cgroups);
        if (run >= STARTUP_WARMUP) samples.get(name)!.push(sample);
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // the provider's background work (its next spare) ends before another's sample

      }
    }
  } finally {
    cgroups.restore();
  }
  const cores = coresSince(cpu);
  const results = new Map<ProviderName, StartupResult>();
  for (const [name, taken] of samples) {
    const of = (key: keyof Sample) => summarise(taken.flatMap((sample) => (sample[key] === undefined ? [] : [sample[key]])));
    const withCgroup = taken.some((sample) => sample.cgroupSetup !== undefined);
    results.set(name, {
      firstCommand: of('first'),
      provisioned: of('provisioned'),
      stallStarting: of('stallStarting'),
      dispose: of('dispose'),
      stallDispose: of('stallDispose'),
      floor: of('floor'),
      cgroupSetup: withCgroup ? of('cgroupSetup') : undefined,
      cgroupRemove: withCgroup ? of('cgroupRemove') : undefined,
    });
  }
  return { results, cores };
}

interface Sample {
  first: number;
  provisioned: number;
  stallStarting: number;
  dispose: number;
  stallDispose: number;
  floor: number;
  cgroupSetup?: number;
  cgroupRemove?: number;
}

/** One sandbox: provision, first `true`, dispose; then one bare shell's first `true`. */
async function sampleOnce(name: ProviderName, provider: SandboxProvider, root: string, monitor: StallMonitor, cgroups: ReturnType<typeof timeCgroups>): Promise<Sample> {
  await monitor.start();
  cgroups.reset();
  const callsBefore = cgroups.spent.calls;
  const before = performance.now();
  const sandbox = await provider.provision(name === 'bubblewrap-again' ? { ...freshRecipe('again'), sessionId: `bench-again-${process.pid}` } : freshRecipe(`startup-${name}`));
  const provisioned = performance.now();
  const output = await sandbox.execute('bash', { command: 'true' });
  const done = performance.now();
  const cgroupSetup = cgroups.spent.setup;
  const stallStarting = await monitor.stop();
  if (output !== '') throw new Error(`${name}: \`true\` answered ${JSON.stringify(output)}`);

  await monitor.start();
  const disposing = performance.now();
  await sandbox.dispose();
  const disposed = performance.now();
  const cgroupRemove = cgroups.spent.remove;
  const usedCgroup = cgroups.spent.calls > callsBefore;
  const stallDispose = await monitor.stop();

  const bareAt = performance.now();
  const bare = new BareShell(name, root);
  await bare.run('true');
  const bareDone = performance.now();
  await bare.kill();

  return {
    first: done - before,
    provisioned: provisioned - before,
    stallStarting,
    dispose: disposed - disposing,
    stallDispose,
    floor: bareDone - bareAt,
    ...(usedCgroup ? { cgroupSetup, cgroupRemove } : {}),
  };
}

const pair = (summary: Summary) => `${ms(summary.p50)} / ${ms(summary.p99)}`;

export const startupTable = () =>
  new Table(
    'Provision → first command',
    `per sample a new session id (fresh workspace): provider.provision(), then execute('bash', {command: 'true'}), timed from just before provision to execute resolving; ` +
      `then dispose(), timed. ${STARTUP_SAMPLES} samples per provider after ${STARTUP_WARMUP} unrecorded, the providers alternating (order flipped every sample), one sandbox at a time, ${SETTLE_MS} ms of pause after each. ` +
      `Cgroup rows: time inside oma's own Cgroup methods (src/sandbox/cgroups.ts), wrapped in place for the measure. Event-loop stalls: the longest gap of a 1 ms monitorEventLoopDelay over each window (started 2 ms before it, stopped 2 ms after), less the 1 ms. Floor: spawn a bare shell (bwrap with oma's bwrapArgs as this user without setpriv, cgroup or oma's shell protocol; plain bash), ` +
      `write \`true; printf <marker>\`, time to the marker. ` +
      `bubblewrap: oma's defaults, so each new session's workspace is an ext4 image (the spare image a launcher made ahead, renamed) mounted in this window; bubblewrap-again: the same, but every sample provisions one same session again (its image exists: mounted in the window; the launcher's spare is left for the next launcher); bubblewrap-dir: the same with OMA_SANDBOX_DISK_MB=0 (a plain directory). All three take a spare launcher (a root shell already in its cgroup, see src/sandbox/launcher.ts) when one is ready; one sandbox at a time, so one usually is.`,
    ['bubblewrap', 'bubblewrap-again', 'bubblewrap-dir', 'process'],
  );

export function recordStartup(table: Table, name: ProviderName, result: StartupResult) {
  table.record(
    'provision → first `true` done: p50 / p99 (ms)',
    name,
    pair(result.firstCommand),
    name === 'bubblewrap' ? { target: TARGETS.firstCommandP50, value: result.firstCommand.p50 } : undefined,
  );
  table.record('of which provision() resolved (process spawned): p50 / p99 (ms)', name, pair(result.provisioned));
  table.record('in oma’s Cgroup.create + Cgroup.add within the window (the next spare launcher’s, started 10 ms after a handover; not awaited by it): p50 / p99 (ms)', name, result.cgroupSetup ? pair(result.cgroupSetup) : 'no cgroup');
  table.record('longest event-loop stall within provision → first command: p50 / p99 (ms)', name, pair(result.stallStarting));
  table.record('dispose(): p50 / p99 (ms)', name, pair(result.dispose));
  table.record('of which in oma’s Cgroup.remove (rmdir retried every 10 ms until the kernel frees it): p50 / p99 (ms)', name, result.cgroupRemove ? pair(result.cgroupRemove) : 'no cgroup');
  table.record('longest event-loop stall within dispose(): p50 / p99 (ms)', name, pair(result.stallDispose));
  table.record('floor (reference): bare shell spawn → first `true` done: p50 / p99 (ms)', name, pair(result.floor));
}
