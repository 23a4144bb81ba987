/**
 * Per-call overhead of execute: `true` again and again on one sandbox that is already running, for
 * each provider three ways, one call of each in turn (round robin over all six, so the VM's noise
 * falls on all alike): `sandbox.execute` on the provider's own sandbox; the brain's path,
 * `ToolRouter.execute` over a `SandboxPool` (what `openSandboxProvider` returns) over the provider;
 * and the floor, a bare shell's round trip over the same kind of pipes (`BareShell`).
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_BRAIN_OPTIONS } from '../../src/brain/options.ts';
import { ToolRouter } from '../../src/brain/tools.ts';
import { SandboxPool } from '../../src/sandbox/pool.ts';
import { ms } from '../lib/stats.ts';
import { coresSince, cpuSnapshot, type CoresUsed } from '../lib/cpu.ts';
import { BareShell, freshRecipe, openProvider, type ProviderName } from './sandboxes.ts';
import { summarise, Table, type Summary } from './table.ts';

export const EXECUTE_CALLS = 500;
const EXECUTE_WARMUP = 50;

type Way = 'sandbox' | 'router' | 'floor';

export interface ExecuteResult {
  /** Wall time per call, and this process's CPU per call (ms), per way. */
  wall: Record<Way, Summary>;
  cpu: Record<Way, Summary>;
}

interface Variant {
  name: ProviderName;
  way: Way;
  call(): Promise<void>;
  wall: number[];
  cpu: number[];
}

export async function measureExecute(providers: readonly ProviderName[], root: string): Promise<{ results: Map<ProviderName, ExecuteResult>; cores: CoresUsed }> {
  const variants: Variant[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    for (const name of providers) {
      const provider = openProvider(name, root);
      const sandbox = await provider.provision(freshRecipe(`execute-${name}`));
      cleanups.push(() => sandbox.dispose());
      variants.push({
        name,
        way: 'sandbox',
        wall: [],
        cpu: [],
        async call() {
          const output = await sandbox.execute('bash', { command: 'true' });
          if (output !== '') throw new Error(`${name}: \`true\` answered ${JSON.stringify(output)}`);
        },
      });

      const pool = new SandboxPool(provider, { idleMs: 600_000 });
      const router = new ToolRouter(pool, freshRecipe(`execute-router-${name}`), {
        timeoutMs: DEFAULT_BRAIN_OPTIONS.toolTimeoutMs,
        maxOutputBytes: DEFAULT_BRAIN_OPTIONS.maxToolOutputBytes,
      });
      cleanups.push(async () => {
        await router.dispose();
        await pool.close();
      });
      variants.push({
        name,
        way: 'router',
        wall: [],
        cpu: [],
        async call() {
          const outcome = await router.execute('bash', { command: 'true' });
          if (outcome.isError || outcome.text !== '(no output)') throw new Error(`${name}: the router answered ${JSON.stringify(outcome)}`);
        },
      });

      const bare = new BareShell(name, root);
      cleanups.push(() => bare.kill());
      variants.push({ name, way: 'floor', wall: [], cpu: [], call: () => bare.run('true') });
    }

    let cpu = cpuSnapshot();
    for (let round = 0; round < EXECUTE_WARMUP + EXECUTE_CALLS; round++) {
      if (round === EXECUTE_WARMUP) cpu = cpuSnapshot();
      for (const variant of variants) {
        const cpuBefore = process.cpuUsage();
        const before = performance.now();
        await variant.call();
        const after = performance.now();
        const used = process.cpuUsage(cpuBefore);
        if (round >= EXECUTE_WARMUP) {
          variant.wall.push(after - before);
          variant.cpu.push((used.user + used.system) / 1_000);
        }
      }
    }
    const cores = coresSince(cpu);

    const results = new Map<ProviderName, ExecuteResult>();
    for (const name of providers) {
      const of = (way: Way) => variants.find((variant) => variant.name === name && variant.way === way)!;
      results.set(name, {
        wall: { sandbox: summarise(of('sandbox').wall), router: summarise(of('router').wall), floor: summarise(of('floor').wall) },
        cpu: { sandbox: summarise(of('sandbox').cpu), router: summarise(of('router').cpu), floor: summarise(of('floor').cpu) },
      });
    }
    return { results, cores };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

const pair = (summary: Summary) => `${ms(summary.p50)} / ${ms(summary.p99)}`;
const micro = (summary: Summary) => `${Math.round(summary.p50 * 1_000)}`;

export const executeTable = () =>
  new Table(
    'Per-call overhead of execute (`true`)',
    `one sandbox per provider and way, already running; ${EXECUTE_CALLS} calls of execute('bash', {command: 'true'}) each after ${EXECUTE_WARMUP} unrecorded, ` +
      `one call of each of the six (provider × way) in turn. sandbox.execute: the provider's own sandbox. ToolRouter: the brain's path (src/brain/tools.ts) over a SandboxPool over the provider, ` +
      `with the brain's default timeout and truncation. Floor: a bare shell's round trip (\`true; printf <marker>\` written to its stdin, no base64 or token), under bwrap with oma's arguments as this user, or plain bash. ` +
      `CPU: this process's user + system time over the call (process.cpuUsage), p50.`,
    ['bubblewrap', 'process'],
  );

export function recordExecute(table: Table, name: ProviderName, result: ExecuteResult) {
  table.record('sandbox.execute: p50 / p99 (ms)', name, pair(result.wall.sandbox));
  table.record('ToolRouter.execute over SandboxPool (the brain’s path): p50 / p99 (ms)', name, pair(result.wall.router));
  table.record('floor (reference): bare shell round trip: p50 / p99 (ms)', name, pair(result.wall.floor));
  table.record('CPU of this process per call, p50 (µs): sandbox.execute; ToolRouter; floor', name, `${micro(result.cpu.sandbox)}; ${micro(result.cpu.router)}; ${micro(result.cpu.floor)}`);
}
