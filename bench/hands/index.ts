/**
 * Hands benchmark: oma's sandboxes (src/sandbox/) and what lazy provisioning buys.
 *
 *   npm run bench -- hands
 *
 * What is measured (the list), one after another, never two at once; one module each, whose
 * comment says how:
 * - provision → first command (`true`) completing, bubblewrap and process side by side, with the
 *   dispose and the event-loop stalls of both, and the floor of a bare shell (startup.ts);
 * - the per-call overhead of execute for `true` on a running sandbox, directly and through the
 *   brain's `ToolRouter` over a `SandboxPool`, with the floor of a bare shell's round trip (execute.ts);
 * - TTFT with lazy (oma's) against eager (emulated) provisioning, for an environment whose setup
 *   takes 1.5–2.5 s, over 200 sessions of which half never use a tool (ttft.ts, model.ts).
 * Shared: providers, the setup-step wrapper, bare shells and the stall monitor (sandboxes.ts), the
 * result tables (table.ts), CPU use from /proc (cpu.ts).
 *
 * bubblewrap needs `bwrap` and user namespaces; when it cannot run, only the process provider is
 * measured and the TTFT measure runs on it. The TTFT servers use PostgreSQL from DATABASE_URL
 * (default postgres://postgres@127.0.0.1:5432/test), a fresh schema per server dropped at the end,
 * or embedded PGlite when PostgreSQL cannot be reached. Workspaces go to a temporary directory,
 * removed at the end.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { describeUrl } from '../../src/db/postgres.ts';
import { environmentLine, loadAverage } from '../lib/stats.ts';
import { CORES_LEGEND, coresSince, coresText, cpuSnapshot, othersText, type CoresUsed } from '../lib/cpu.ts';
import { executeTable, measureExecute, recordExecute } from './execute.ts';
import { bubblewrapMode, bubblewrapUnavailable, PROVIDERS, workspaceRoot, type ProviderName } from './sandboxes.ts';
import { measureStartup, recordStartup, startupTable } from './startup.ts';
import { createStorage, measureTtft, recordTtft, ttftTable, type Mode, type Storage, type TtftResult } from './ttft.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const QUIET_CHECK_MS = 2_000;

export async function main(): Promise<void> {
  const began = performance.now();
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  console.log(`Environment: ${environmentLine()}`);
  const notes: string[] = [];
  // Was the machine quiet when the run started? (The cores notes of each measure say whether it stayed so.)
  const before = cpuSnapshot();
  await new Promise((resolve) => setTimeout(resolve, QUIET_CHECK_MS));
  notes.push(`Before the run, over ${QUIET_CHECK_MS / 1_000} s: ${cores(coresSince(before))}`);
  const workspaces = workspaceRoot();
  try {
    const unavailable = await bubblewrapUnavailable(workspaces.root);
    const providers: readonly ProviderName[] = unavailable ? ['process'] : PROVIDERS;
    const skipped: Record<string, string> = unavailable ? { bubblewrap: 'skipped', 'bubblewrap-again': 'skipped', 'bubblewrap-dir': 'skipped' } : {};
    notes.push(unavailable ? `bubblewrap skipped: ${unavailable}` : `bubblewrap: ${bubblewrapMode()}`);

    // 1. Provision → first command
    process.stderr.write('provision → first command…\n');
    const startup = startupTable();
    const started = await measureStartup(unavailable ? providers : ['bubblewrap', 'bubblewrap-again', 'bubblewrap-dir', 'process'], workspaces.root);
    for (const [name, result] of started.results) recordStartup(startup, name, result);
    notes.push(`Provision → first command, over ${started.cores.seconds.toFixed(0)} s: ${cores(started.cores)} (sandboxes killed within the window count partly as other, see bench/lib/cpu.ts)`);

    // 2. Per-call overhead of execute
    process.stderr.write('execute overhead…\n');
    const execute = executeTable();
    const executed = await measureExecute(providers, workspaces.root);
    for (const [name, result] of executed.results) recordExecute(execute, name, result);
    notes.push(`Execute, over ${executed.cores.seconds.toFixed(0)} s: ${cores(executed.cores)}`);

    // 3. TTFT, lazy against eager, one fresh server each
    const database = await probePostgres(url);
    const storageName: Storage['name'] = database.reachable ? 'PostgreSQL' : 'PGlite';
    notes.push(database.reachable ? `PostgreSQL: ${describeUrl(url)}, ${database.description}` : `PostgreSQL unreachable (${database.description}): the TTFT servers run on PGlite`);
    const sandbox: ProviderName = unavailable ? 'process' : 'bubblewrap';
    const ttft = ttftTable(storageName, sandbox === 'bubblewrap' ? 'the bubblewrap provider' : 'the process provider (bubblewrap cannot run here)');
    const results: Partial<Record<Mode, TtftResult>> = {};
    for (const mode of ['lazy', 'eager'] as const) {
      process.stderr.write(`TTFT, ${mode}…\n`);
      const storage = await createStorage(storageName, url);
      try {
        results[mode] = await measureTtft(mode, storage, sandbox, workspaces.root);
      } finally {
        await storage.remove();
      }
    }
    recordTtft(ttft, results);
    for (const [mode, result] of Object.entries(results)) notes.push(`TTFT ${mode}, over the ${result.cores.seconds.toFixed(0)} s of the recorded sessions: ${cores(result.cores)}`);

    for (const note of notes) console.log(note);
    console.log(`Load average at the end: ${loadAverage()} (this run's own load included); run took ${Math.round((performance.now() - began) / 1_000)} s.`);
    startup.print(skipped);
    execute.print(skipped);
    ttft.print({ change: '' });
  } finally {
    workspaces.remove();
  }
}

const cores = (used: CoresUsed) => `${CORES_LEGEND} ${coresText(used)}; largest other processes (cores): ${othersText(used)}`;

async function probePostgres(url: string): Promise<{ reachable: boolean; description: string }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
    return { reachable: true, description: `server ${await show('server_version')}, fsync ${await show('fsync')}, synchronous_commit ${await show('synchronous_commit')}` };
  } catch (error) {
    return { reachable: false, description: (error as Error).message };
  } finally {
    await client.end().catch(() => {});
  }
}
