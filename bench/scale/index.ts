/**
 * Scale benchmark: many sessions on 1, 2 and 4 `oma worker` processes against PostgreSQL.
 *
 *   npm run bench -- scale
 *
 * PostgreSQL comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); each set-up
 * gets a fresh schema, dropped at the end. One set-up per column (cluster.ts): `oma serve` with no
 * brains (the API) and N workers with 64 brains each, all real processes, the model a scripted one
 * served by this process over HTTP that answers every call with one text after 200 ms (model.ts).
 *
 * What is measured (the issue's list), one module each, whose comment says how:
 * - sessions/s and turns/s for 500 sessions of 5 turns, 100 sessions in flight, driven through the
 *   official SDK (driver.ts); turn time; wake latency (send returned → the model saw the request)
 *   under that load and on an idle system (one session at a time);
 * - DB connections used and each worker's peak memory, sampled every 250 ms (sampler.ts);
 * - take-over after `kill -9` of a worker, 2 workers with a 2 s lease TTL (takeover.ts).
 * Sizes can be lowered for a quick look with OMA_BENCH_SCALE_SESSIONS and OMA_BENCH_SCALE_ROUNDS.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { describeUrl } from '../../src/db/postgres.ts';
import { startFakeModelServer } from '../../src/testing/fake-model-server.ts';
import { coresSince, cpuSnapshot, othersText, type CoresUsed } from '../lib/cpu.ts';
import { environmentLine, loadAverage, ms, summarise } from '../lib/stats.ts';
import { Cluster } from './cluster.ts';
import { drive, newIds, type DriveResult } from './driver.ts';
import { ScaleModel } from './model.ts';
import { cpuSeconds, Sampler, wakeActivity, type Usage, type WakeActivity } from './sampler.ts';
import { Table, type Target } from '../lib/table.ts';
import { measureTakeover, type TakeoverResult } from './takeover.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const WORKER_COUNTS = [1, 2, 4] as const;
const BRAINS = 64;
const MODEL_LATENCY_MS = 200;
const SESSIONS = positive(process.env.OMA_BENCH_SCALE_SESSIONS, 500);
const TURNS = 5;
const IN_FLIGHT = 100;
/** The idle-system wake latency: sessions × turns, one session at a time, a pause after each turn. */
const IDLE = { sessions: 4, turns: 5, pauseMs: 150 };
/** Other processes' CPU during a load above which the column is called disturbed. */
const DISTURBED_CORES = 0.25;
const TAKEOVER = { workers: 2, leaseTtlMs: 2_000, rounds: positive(process.env.OMA_BENCH_SCALE_ROUNDS, 5), sessions: 10, slowMs: 5_000 };

function positive(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

interface ColumnResult {
  workers: number;
  idle: DriveResult;
  load: DriveResult;
  usage: Usage;
  /** session_wakes counters over the column (idle phase and load). */
  wakes: WakeActivity;
  cores: CoresUsed;
  /** Cores used during the load by oma serve, and by each worker. */
  serveCores: number;
  workerCores: number[];
}

const column = (workers: number) => `${workers} worker${workers === 1 ? '' : 's'}`;
const signed = (value: number) => (value < 0 ? `−${ms(-value)}` : ms(value));
const pair = (samples: number[]) => {
  const { p50, p99 } = summarise(samples);
  return `${signed(p50)} / ${signed(p99)} ms`;
};
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

export async function main(): Promise<void> {
  const began = performance.now();
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  console.log(`Environment: ${environmentLine()}`);
  const loadAtStart = loadAverage();
  const postgres = await describePostgres(url);

  const model = new ScaleModel(MODEL_LATENCY_MS, TAKEOVER.slowMs);
  const server = await startFakeModelServer({ model: model.scripted });
  const columns: ColumnResult[] = [];
  let takeover: TakeoverResult;
  // Stopped from outside: stop the running set-ups (processes, schema), then exit; their exit hooks SIGKILL whatever is left.
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`scale bench: ${signal}, stopping its oma processes and dropping its schemas`);
    const stopped = Promise.allSettled([...Cluster.live].map((cluster) => cluster.stop()));
    void Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 20_000))]).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const workers of WORKER_COUNTS) {
      process.stderr.write(`${column(workers)}…\n`);
      columns.push(await measureColumn(url, server.url, model, workers));
    }
    process.stderr.write('take-over after kill -9…\n');
    takeover = await measureTakeoverSetup(url, server.url, model);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.close();
  }

  const table = buildTable(columns, takeover);
  const notes = [
    `PostgreSQL: ${describeUrl(url)}, ${postgres}.`,
    `Settings: OMA_BRAINS=${BRAINS} per worker, oma's default lease TTL (15 s) for the throughput columns; OMA_LEASE_TTL_MS=${TAKEOVER.leaseTtlMs} for the take-over (target TTL + 1 s = ${ms(TAKEOVER.leaseTtlMs + 1_000)} ms); model latency ${MODEL_LATENCY_MS} ms; ${IN_FLIGHT} sessions in flight.`,
    ...(SESSIONS === 500 ? [] : [`REDUCED: ${SESSIONS} sessions per column instead of the issue's 500 (OMA_BENCH_SCALE_SESSIONS).`]),
    growthSentence(columns),
    ...columns.flatMap((result) => disturbance(column(result.workers), result.cores)),
    ...columns.flatMap((result) => errorNotes(column(result.workers), [...result.idle.errors, ...result.load.errors], result.idle.unseen + result.load.unseen)),
    ...errorNotes('take-over', takeover.errors, 0),
    `Load average at the start: ${loadAtStart}; at the end: ${loadAverage()} (this run's own load included); run took ${Math.round((performance.now() - began) / 1_000)} s.`,
  ];
  for (const note of notes) console.log(note);
  table.print({}, '–');
}

async function describePostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, application_name: 'oma_scale_bench_monitor' });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string; max: string }>("SELECT current_setting('server_version') AS version, current_setting('max_connections') AS max");
    return `version ${rows[0]!.version}, max_connections ${rows[0]!.max}`;
  } finally {
    await client.end();
  }
}

async function measureColumn(url: string, modelUrl: string, model: ScaleModel, workers: number): Promise<ColumnResult> {
  const cluster = await Cluster.start({ url, workers, brains: BRAINS, modelUrl });
  try {
    const sampler = await Sampler.start(cluster, url);
    let usage: Usage | undefined;
    try {
      const client = cluster.client!;
      const ids = await newIds(client);
      model.reset();
      const idle = await drive(client, ids, model, { prefix: `c${workers} idle`, ...IDLE, concurrency: 1 });
      model.reset();
      const pids = cluster.processes();
      const cpuBefore = new Map(pids.map(({ pid }) => [pid, cpuSeconds(pid) ?? 0]));
      const before = cpuSnapshot();
      sampler.loading = true;
      const load = await drive(client, ids, model, { prefix: `c${workers} load`, sessions: SESSIONS, turns: TURNS, concurrency: IN_FLIGHT });
      sampler.loading = false;
      const cores = coresSince(before);
      const used = (pid: number) => ((cpuSeconds(pid) ?? cpuBefore.get(pid)!) - cpuBefore.get(pid)!) / cores.seconds;
      const serveCores = used(cluster.serve!.pid);
      const workerCores = pids.filter((entry) => entry.role === 'worker').map(({ pid }) => used(pid));
      usage = await sampler.stop();
      if (load.turnsDone === 0) throw new Error(`${column(workers)}: no turn completed: ${load.errors.slice(0, 3).join('; ')}\n${cluster.stderrTails()}`);
      await cluster.stopProcesses();
      const wakes = await wakeActivity(url, cluster.database.schema);
      return { workers, idle, load, usage, wakes, cores, serveCores, workerCores };
    } finally {
      if (!usage) await sampler.stop().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
}

async function measureTakeoverSetup(url: string, modelUrl: string, model: ScaleModel): Promise<TakeoverResult> {
  const cluster = await Cluster.start({ url, workers: TAKEOVER.workers, brains: BRAINS, modelUrl, leaseTtlMs: TAKEOVER.leaseTtlMs });
  try {
    const client = cluster.client!;
    const ids = await newIds(client);
    model.reset();
    return await measureTakeover(cluster, client, ids, model, TAKEOVER);
  } finally {
    await cluster.stop();
  }
}

const TARGETS = {
  idleWake: { text: 'p50 ≤ 50 ms when a worker is idle', isMet: (p50) => p50 <= 50 },
  takeover: { text: `p99 ≤ TTL + 1 s = ${(TAKEOVER.leaseTtlMs + 1_000) / 1_000} s`, isMet: (p99) => p99 <= TAKEOVER.leaseTtlMs + 1_000 },
} satisfies Record<string, Target>;

function buildTable(columns: ColumnResult[], takeover: TakeoverResult): Table {
  const names = WORKER_COUNTS.map(column);
  const table = new Table(
    `Scale: ${SESSIONS} sessions × ${TURNS} turns on 1, 2 and 4 workers (PostgreSQL, model ${MODEL_LATENCY_MS} ms)`,
    [
      `each column is a fresh schema, one \`oma serve\` with OMA_BRAINS=0 (the API) and N \`oma worker\` processes with OMA_BRAINS=${BRAINS}, the model a scripted one served by the bench over HTTP`,
      `(every call: one text block after ${MODEL_LATENCY_MS} ms, so a turn is one model call). The client is the official SDK in the bench process: ${IN_FLIGHT} sessions in flight, each created, its`,
      `events.stream opened, then ${TURNS} turns of events.send (a user.message) → session.status_idle read on the stream; sessions/s and turns/s are completed sessions and turns over the wall`,
      `time from the first create to the last idle (session creation included). Wake latency: from events.send returning to the model receiving that turn's request (matched by the message`,
      `text; negative when the model saw it first; also from send started), under that load, and on an idle system (${IDLE.sessions} sessions × ${IDLE.turns} turns, one at a time, ${IDLE.pauseMs} ms pause after each idle, before the load).`,
      `DB connections: the most open at once in pg_stat_activity among this column's processes (each started with its own PGAPPNAME, so the bench's own connection and other work on the`,
      `database are not counted), sampled every 250 ms over the column's life. Memory: each worker's peak VmRSS (/proc, same sampling); the median over the workers, and the largest.`,
      `During the load the same sampling counts session_wakes rows under a live lease (brains busy) and due without one (turns waiting for a claim), and the column's connections in state`,
      `active (running a statement). Cores: CPU over the load from /proc — oma serve, all workers together (the busiest one), PostgreSQL, this bench process (the SDK client and the model),`,
      `the rest of the machine; per turn, the same CPU over the load's turns. session_wakes per turn: PostgreSQL's table counters (seq + index scans; rows inserted, updated, deleted) read`,
      `after the column's processes have exited, over all its turns.`,
      `Take-over: its own set-up of ${TAKEOVER.workers} workers with OMA_LEASE_TTL_MS=${TAKEOVER.leaseTtlMs}; ${TAKEOVER.rounds} rounds of ${TAKEOVER.sessions} sessions whose turn's model call takes ${TAKEOVER.slowMs / 1_000} s; once the model`,
      `has all of them, the worker holding the most leases (session_wakes.leased_by) is SIGKILLed, round r after r/${TAKEOVER.rounds} of a third of the TTL (the lease's renewal period, so the kills fall at spread points of it), and each of its sessions' events.list is polled every 10 ms until a new event appears`,
      `(the other worker's first append after claiming the expired lease): kill → seen; a new worker replaces the killed one before the next round.`,
    ].join(' '),
    names,
  );
  for (const result of columns) {
    const name = column(result.workers);
    const { load, idle, usage, cores } = result;
    table.record(`sessions/s (${SESSIONS} × ${TURNS} turns, ${IN_FLIGHT} in flight)`, name, (load.sessionsDone / load.seconds).toFixed(1));
    table.record('turns/s', name, (load.turnsDone / load.seconds).toFixed(0));
    table.record('wall time of the load', name, `${load.seconds.toFixed(1)} s`);
    table.record('turn: send → idle seen, p50 / p99', name, pair(load.turnTime));
    table.record('wake latency under load: send returned → model request, p50 / p99', name, pair(load.wake));
    table.record('wake latency under load from send started, p50 / p99', name, pair(load.wakeFromStart));
    table.record('events.send round trip under load, p50 / p99', name, pair(load.sendRoundTrip));
    const queue = usage.queue;
    table.record(
      'wakes during the load, mean: held by a brain / waiting (max waiting)',
      name,
      queue.samples === 0 ? '?' : `${(queue.leased / queue.samples).toFixed(1)} / ${(queue.waiting / queue.samples).toFixed(1)} (${queue.maxWaiting})`,
    );
    table.record(`wake latency, idle system (${idle.wake.length} turns one at a time), p50 / p99`, name, pair(idle.wake), { target: TARGETS.idleWake, value: summarise(idle.wake).p50 });
    const workerConnections = [...usage.connectionsByProcess].filter(([app]) => !app.endsWith('_serve')).map(([, count]) => count);
    const serveConnections = [...usage.connectionsByProcess].find(([app]) => app.endsWith('_serve'))?.[1] ?? 0;
    table.record('DB connections used, max at once (serve; busiest worker)', name, `${usage.connections} (${serveConnections}; ${Math.max(0, ...workerConnections)})`);
    const workerRss = [...usage.rss.values()].filter((entry) => entry.role === 'worker').map((entry) => entry.bytes);
    const serveRss = [...usage.rss.values()].find((entry) => entry.role === 'serve')?.bytes;
    table.record(
      'DB connections running a statement during the load, mean (workers; serve)',
      name,
      usage.queue.samples === 0 ? '?' : `${(usage.queue.workersActive / usage.queue.samples).toFixed(1)}; ${(usage.queue.serveActive / usage.queue.samples).toFixed(1)}`,
    );
    table.record('memory per worker: peak RSS, p50 over workers (max)', name, `${mib(summarise(workerRss).p50)} (${mib(Math.max(...workerRss))})`);
    table.record('oma serve peak RSS', name, serveRss === undefined ? '?' : mib(serveRss));
    const show = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));
    table.record(
      'cores in the load: serve / workers (busiest) / PostgreSQL / bench / other',
      name,
      `${show(result.serveCores)} / ${show(sum(result.workerCores))} (${show(Math.max(...result.workerCores))}) / ${show(cores.postgres)} / ${show(cores.own)} / ${show(cores.other)}`,
    );
    const turns = load.turnsDone + idle.turnsDone;
    const perTurn = (cores: number | undefined) => (cores === undefined ? '?' : ((cores * result.cores.seconds * 1_000) / load.turnsDone).toFixed(1));
    table.record(
      'CPU per turn, ms: serve / workers / PostgreSQL / bench',
      name,
      `${perTurn(result.serveCores)} / ${perTurn(sum(result.workerCores))} / ${perTurn(cores.postgres)} / ${perTurn(cores.own)}`,
    );
    table.record(
      'session_wakes per turn: scans / row writes',
      name,
      `${(result.wakes.scans / turns).toFixed(1)} / ${(result.wakes.writes / turns).toFixed(1)}`,
    );
    table.record('turns failed or unseen by the model', name, String(load.errors.length + idle.errors.length + load.unseen + idle.unseen));
  }
  const taken = summarise(takeover.samples);
  const two = column(TAKEOVER.workers);
  table.record(
    `take-over after kill -9 (TTL ${TAKEOVER.leaseTtlMs / 1_000} s): kill → next event, p50 / p99 (max; n)`,
    two,
    `${ms(taken.p50)} / ${ms(taken.p99)} ms (${ms(Math.max(...takeover.samples))}; ${taken.count} sessions, ${takeover.rounds} kills)`,
    takeover.samples.length > 0 ? { target: TARGETS.takeover, value: taken.p99 } : undefined,
  );
  return table;
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** How throughput grows with workers, and what bounded it (from the cores each part used). */
function growthSentence(columns: ColumnResult[]): string {
  const rates = columns.map((result) => result.load.turnsDone / result.load.seconds);
  const base = rates[0]!;
  const growth = columns.slice(1).map((result, index) => `${(rates[index + 1]! / base).toFixed(2)}× with ${result.workers}`);
  const caps = columns.map((result) => Math.round((BRAINS * result.workers * 1_000) / MODEL_LATENCY_MS).toLocaleString('en-US')).join(' / ');
  const bounds = columns.map((result) => {
    const busy = result.cores.own + (result.cores.postgres ?? 0) + (result.cores.other ?? 0) + result.serveCores + sum(result.workerCores);
    const limits: string[] = [];
    if (busy >= 1.7) limits.push(`the machine's 2 cores (${busy.toFixed(2)} busy)`);
    if (result.serveCores >= 0.85) limits.push(`oma serve's one event loop (${result.serveCores.toFixed(2)} cores)`);
    if (Math.max(...result.workerCores) >= 0.85) limits.push(`a worker's event loop (${Math.max(...result.workerCores).toFixed(2)} cores)`);
    const { queue } = result.usage;
    const held = queue.samples > 0 ? queue.leased / queue.samples : NaN;
    const waiting = queue.samples > 0 ? queue.waiting / queue.samples : NaN;
    if (waiting >= 5 && held < 0.8 * BRAINS * result.workers) {
      limits.push(`claiming: ${waiting.toFixed(1)} wakes waited on average while only ${held.toFixed(1)} of ${BRAINS * result.workers} brains were busy (a worker claims one wake per round trip)`);
    }
    return `${column(result.workers)}: ${limits.length > 0 ? limits.join(', and ') : `no CPU limit seen (${busy.toFixed(2)} of 2 cores busy)`}`;
  });
  const scans = columns.map((result) => result.wakes.scans / (result.load.turnsDone + result.idle.turnsDone));
  const perTurn = (result: ColumnResult) => ((result.cores.seconds * (result.serveCores + sum(result.workerCores) + (result.cores.postgres ?? 0))) * 1_000) / result.load.turnsDone;
  return [
    `Throughput (turns/s: ${rates.map((rate) => rate.toFixed(0)).join(' / ')} on 1 / 2 / 4 workers) is ${growth.join(' and ')} workers against 1.`,
    `The model's latency alone would allow ${BRAINS} brains × workers / ${MODEL_LATENCY_MS / 1_000} s = ${caps} turns/s, and the driver's ${IN_FLIGHT} sessions in flight at most ${IN_FLIGHT * (1_000 / MODEL_LATENCY_MS)} turns/s;`,
    `what bounded it instead — ${bounds.join('; ')}.`,
    `On one machine more workers only share the same 2 cores, and the CPU oma and PostgreSQL spend per turn changes with them: ${columns.map((result) => perTurn(result).toFixed(1)).join(' / ')} ms;`,
    `every worker is told of every wake and, with brains free, tries to claim it: session_wakes scans per turn ${scans.map((value) => value.toFixed(1)).join(' / ')}.`,
  ].join(' ');
}

/** Other work on the machine during a column's load takes cores from it: say so when it took much. */
function disturbance(where: string, cores: CoresUsed): string[] {
  if ((cores.other ?? 0) < DISTURBED_CORES) return [];
  return [`${where}: DISTURBED — other processes used ${cores.other!.toFixed(2)} cores during the load (largest: ${othersText(cores)}); its figures are low.`];
}

function errorNotes(where: string, errors: string[], unseen: number): string[] {
  const notes = errors.slice(0, 5).map((error) => `${where}: ${error}`);
  if (errors.length > 5) notes.push(`${where}: … and ${errors.length - 5} more errors`);
  if (unseen > 0) notes.push(`${where}: ${unseen} sent turns never reached the model`);
  return notes;
}
