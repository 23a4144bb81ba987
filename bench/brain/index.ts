/**
 * Brain benchmark: the durable tool loop on embedded PGlite and on PostgreSQL, side by side.
 *
 *   npm run bench -- brain
 *
 * PostgreSQL comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); every server
 * gets a fresh schema, dropped at the end. When it cannot be reached only PGlite is measured. PGlite
 * gets copies of the migrated template directory, deleted at the end.
 *
 * The model is a bench-local, zero-latency one (`BenchModel`, model.ts): it answers at once from
 * prebuilt stream events, never copies the request, and records `performance.now()` of every call. A
 * session's first message, `bench <tag> <n>`, tells it to answer the first n calls with one `bash`
 * tool use (`{command: "x", output_bytes: 1024}`, which the echo sandbox answers with 1 KB) and
 * every later call with `end_turn` text. So model and tool take ~0 ms, and the time between two
 * consecutive model calls is the brain's whole cost of one loop iteration ("turn"): fold, decide,
 * append `span.model_request_start` / `agent.tool_use` / `span.model_request_end` /
 * `agent.tool_result` durably, run the tool, rebuild the request from the whole log.
 *
 * What is measured (the list), each backend in turn, never both at once; one module each,
 * whose comment says how:
 * - turn overhead, with statements and CPU per turn (turns.ts);
 * - WAL per turn, PostgreSQL only (wal.ts);
 * - resume, warm (a new `Brain` in this process) and fresh (a spawned resume-child.ts) (resume.ts);
 * - send → first `agent.*` event (first-event.ts).
 * Shared: storage, servers and session helpers (harness.ts), the result tables (table.ts), CPU use
 * from /proc (cpu.ts).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { describeUrl } from '../../src/db/postgres.ts';
import { environmentLine, loadAverage } from '../lib/stats.ts';
import { cores, cpuSince, cpuSnapshot, type CpuSnapshot } from './cpu.ts';
import { firstEventTable, measureFirstEvent, recordFirstEvent } from './first-event.ts';
import { APP_NAME, BACKENDS, createStorage, newAgent, settings, startServer, type BackendName, type Server, type Storage } from './harness.ts';
import { BenchModel } from './model.ts';
import { measureResume, recordResume, resumeTable } from './resume.ts';
import { measureTurns, recordTurns, turnsTable } from './turns.ts';
import { runWal, walTable } from './wal.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export async function main(): Promise<void> {
  const began = performance.now();
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const previousAppName = process.env.PGAPPNAME;
  process.env.PGAPPNAME = APP_NAME; // pg reads it for every connection this process (and its children) opens
  console.log(`Environment: ${environmentLine()}`);

  const turns = turnsTable();
  const wal = walTable();
  const resume = resumeTable();
  const first = firstEventTable();
  const notes: string[] = [];
  const skipped: Partial<Record<BackendName, string>> = {};

  try {
    for (const name of BACKENDS) {
      let storage: Storage;
      let server: Server;
      const model = new BenchModel();
      try {
        storage = await createStorage(name, url);
        try {
          server = await startServer(storage, 4, model);
        } catch (error) {
          await storage.remove().catch(() => {});
          throw error;
        }
      } catch (error) {
        const reason = `${name} skipped: ${(error as Error).message}`;
        console.error(reason);
        notes.push(reason);
        skipped[name] = 'skipped';
        continue;
      }
      let monitor: pg.Client | undefined;
      let resumeStorage: Storage | undefined;
      let backendCpu: CpuSnapshot | undefined;
      try {
        model.statements = server.statements;
        backendCpu = cpuSnapshot();
        const where = name === 'PostgreSQL' ? `${describeUrl(url)}, ` : '';
        notes.push(`${name}: ${where}${await settings(server.oma.db)}`);
        process.stderr.write(`${name}…\n`);
        const ids = await newAgent(server.client);

        // 1. Per-turn overhead
        const eventsPerTurn = recordTurns(turns, notes, name, await measureTurns(server, model, ids, name));

        // 2. WAL per turn
        if (name === 'PostgreSQL') {
          monitor = new pg.Client({ connectionString: url, application_name: APP_NAME });
          await monitor.connect();
          await runWal(wal, notes, name, server, model, ids, monitor, storage.schema!);
        }

        // 4. send → first agent event (same server)
        recordFirstEvent(first, name, await measureFirstEvent(server, model, ids, name));
        process.stderr.write(`  ${name}: send → first event done\n`);

        await server.oma.stop();

        // 3. Resume, on its own storage and a server without brains
        resumeStorage = await createStorage(name, url);
        recordResume(resume, name, await measureResume(resumeStorage, eventsPerTurn));
        process.stderr.write(`  ${name}: resume done\n`);
        const whole = cpuSince(backendCpu);
        notes.push(`${name}: over its ${Math.round(whole.seconds)} s, the rest of the machine (not this process, its children or PostgreSQL) used ${cores(whole.restCores)} cores`);
      } finally {
        await server.oma.stop();
        await storage.remove();
        await monitor?.end();
        await resumeStorage?.remove();
      }
    }
  } finally {
    if (previousAppName === undefined) delete process.env.PGAPPNAME;
    else process.env.PGAPPNAME = previousAppName;
  }

  for (const note of notes) console.log(note);
  console.log(`Load average at the end: ${loadAverage()} (this run's own load included); run took ${Math.round((performance.now() - began) / 1_000)} s.`);
  for (const table of [turns, wal, resume, first]) table.print(skipped);
}
