/**
 * Session log benchmark: PostgresSessionLog on embedded PGlite and on PostgreSQL, side by side.
 *
 *   npm run bench -- session-log
 *
 * PostgreSQL comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); it gets a
 * fresh schema, dropped at the end. When it cannot be reached only PGlite is measured. PGlite gets a
 * copy of the migrated template directory, deleted at the end.
 *
 * What is measured (the list), each backend in turn, never both at once:
 * - append: N writers (1, 8, 32), each appending one ~1 KB event per call to its own session in a
 *   loop. After a warm-up, every append started in the measuring window is timed
 *   (`performance.now()` around the `append` call); throughput is those appends over the time from
 *   the window's start until the last of them resolved. Each N is measured twice, back to back: with
 *   the log's defaults (group commit: concurrent appends to different sessions share one statement)
 *   and, for comparison, without group commit (`maxBatch: 1`: one statement per append, and
 *   `maxInFlight: 16`: as many in flight as the PostgreSQL pool has connections), on a second log over
 *   the same Db that is open only while it is measured. Before a backend's first measure, 2 s of
 *   unrecorded appends warm the process and the database up.
 * - read: a 100-event slice from the middle of a 2,000-event session, and a full replay of it.
 * - delivery: S subscribers (1, 100, 1,000) on one session, then appends one at a time, a few ms
 *   apart; latency is from just before `append` to each subscriber receiving the event, for every
 *   subscriber and event. "Same instance": the subscribers are on the appending log (in-process
 *   broadcast). "Other instance (NOTIFY)", PostgreSQL only: they are on a second PostgresSessionLog
 *   over a second Db (its own pool and LISTEN connection) in this process, so events reach them
 *   through NOTIFY and a read, as they would reach another process.
 *
 * Everything runs in this one Node process: the appenders, the subscribers and the pg client share
 * one event loop, and the PostgreSQL server runs on the same cores.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeUrl } from '../src/db/postgres.ts';
import { openDb, type Db } from '../src/db/index.ts';
import { newId } from '../src/ids.ts';
import type { NewEvent, SessionLog } from '../src/session/interface.ts';
import { PostgresSessionLog } from '../src/session/postgres.ts';
import { freshPgliteDir, freshPostgres } from '../src/testing/databases.ts';
import { environmentLine, integer, loadAverage, ms, summarise } from './lib/stats.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Size of one event as the log serialises it (`{"id":…,"type":…,"payload":…}`), in bytes. */
const EVENT_BYTES = 1024;
/** Distinct payloads to cycle through, so that no two consecutive events are identical. */
const PAYLOAD_VARIANTS = 64;

const WRITER_COUNTS = [1, 8, 32] as const;
const APPEND_WARMUP_MS = 1_000;
const APPEND_MEASURE_MS = 4_000;
/**
 * Unrecorded appends (8 writers) before a backend's first measure: without them the first measure
 * of the run came out 20–50 % slower than the same load measured right after it.
 */
const BACKEND_WARMUP_MS = 2_000;
/** The comparison: no group commit, one statement per append, up to a pool's worth in flight. */
const ONE_STATEMENT_PER_APPEND = { maxBatch: 1, maxInFlight: 16 } as const;

const REPLAY_EVENTS = 2_000;
const SLICE = { afterSeq: 1_000, limit: 100 } as const;
const SLICE_WARMUP = 20;
const SLICE_RUNS = 300;
const REPLAY_WARMUP = 2;
const REPLAY_RUNS = 10;

const SUBSCRIBER_COUNTS = [1, 100, 1_000] as const;
const DELIVERY_EVENTS = 100;
const DELIVERY_GAP_MS = 5;
/** Give up waiting for deliveries after this long (a missing delivery is reported, not hidden). */
const DELIVERY_TIMEOUT_MS = 15_000;

type BackendName = 'PGlite' | 'PostgreSQL';
const BACKENDS: readonly BackendName[] = ['PGlite', 'PostgreSQL'];

interface Backend {
  name: BackendName;
  db: Db;
  /** Another Db on the same storage, as another process would open (PostgreSQL only). */
  openPeer?: () => Promise<Db>;
  /** Close everything opened here and delete the storage. */
  dispose(): Promise<void>;
}

/** A target from the issue, checked against PostgreSQL's number (the issue sets them for PostgreSQL). */
interface Target {
  text: string;
  /** Whether a measured value (appends/s, or a p50 in ms) meets the target. */
  isMet(value: number): boolean;
}

const TARGETS = {
  throughput32: { text: '≥ 10,000/s', isMet: (perSecond) => perSecond >= 10_000 },
  appendP50: { text: 'durable p50 ≤ 0.5 ms', isMet: (p50) => p50 <= 0.5 },
  deliveryP50: { text: 'p50 ≤ 10 ms', isMet: (p50) => p50 <= 10 },
} satisfies Record<string, Target>;

/** One row of the result table. */
interface Row {
  measure: string;
  /** What is printed per backend. */
  cells: Partial<Record<BackendName, string>>;
  target?: Target;
  /** PostgreSQL's value compared with the target. */
  checked?: number;
}

const rows: Row[] = [];

/** The row for `measure`, created (in first-use order) when new. */
function row(measure: string, target?: Target): Row {
  let found = rows.find((candidate) => candidate.measure === measure);
  if (!found) {
    found = { measure, cells: {}, ...(target ? { target } : {}) };
    rows.push(found);
  }
  return found;
}

/** Record a backend's result in a row; `value` is the number the target (if any) is checked against. */
function record(measure: string, backend: BackendName, text: string, value?: number, target?: Target) {
  const entry = row(measure, target);
  entry.cells[backend] = text;
  if (backend === 'PostgreSQL' && value !== undefined) entry.checked = value;
}

// ---------------------------------------------------------------------------------------------------
// Events

/** ~1 KB events shaped like a user message, with random (incompressible) text. */
function makeEvents(): NewEvent[] {
  const shape = (text: string): NewEvent => ({ type: 'user.message', payload: { content: [{ type: 'text', text }] } });
  // The log assigns ids of a fixed length (`sevt_` + 22 characters); count one in the size.
  const overhead = JSON.stringify({ id: newId('sevt'), ...shape('') }).length;
  return Array.from({ length: PAYLOAD_VARIANTS }, () =>
    shape(
      randomBytes(EVENT_BYTES)
        .toString('base64url')
        .slice(0, EVENT_BYTES - overhead),
    ),
  );
}

const events = makeEvents();
let nextEvent = 0;
const anEvent = (): NewEvent => events[nextEvent++ % events.length]!;

// ---------------------------------------------------------------------------------------------------
// Measurements

/** N writers, each on its own session, appending one event per call. */
async function measureAppends(
  log: SessionLog,
  writers: number,
  warmupMs = APPEND_WARMUP_MS,
  measureMs = APPEND_MEASURE_MS,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const sessions = Array.from({ length: writers }, () => newId('sesn'));
  // Create the sessions' heads first, so the window measures steady-state appends only.
  await Promise.all(sessions.map((session) => log.append(session, [anEvent()])));

  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const stopAt = measureFrom + measureMs;
  await Promise.all(
    sessions.map(async (session) => {
      while (performance.now() < stopAt) {
        const before = performance.now();
        await log.append(session, [anEvent()]);
        const took = performance.now() - before;
        if (before >= measureFrom) latencies.push(took);
      }
    }),
  );
  const finished = performance.now();
  const { p50, p99 } = summarise(latencies);
  return { perSecond: latencies.length / ((finished - measureFrom) / 1_000), p50, p99 };
}

/** Slice reads and full replays of one 2,000-event session. */
async function measureReads(log: SessionLog) {
  const session = newId('sesn');
  // Seed in batches of 100 events per append: how the session gets filled is not what is measured.
  for (let seeded = 0; seeded < REPLAY_EVENTS; seeded += 100) {
    await log.append(
      session,
      Array.from({ length: 100 }, () => anEvent()),
    );
  }

  const time = async (runs: number, warmup: number, read: () => Promise<number>, expected: number) => {
    const samples: number[] = [];
    for (let run = 0; run < warmup + runs; run++) {
      const before = performance.now();
      const count = await read();
      const took = performance.now() - before;
      if (count !== expected) throw new Error(`read returned ${count} events, expected ${expected}`);
      if (run >= warmup) samples.push(took);
    }
    return summarise(samples);
  };
  const slice = await time(SLICE_RUNS, SLICE_WARMUP, async () => (await log.read(session, SLICE)).length, SLICE.limit);
  const replay = await time(REPLAY_RUNS, REPLAY_WARMUP, async () => (await log.read(session)).length, REPLAY_EVENTS);
  return { slice, replay };
}

/**
 * S subscribers on `listener`, one session, events appended through `appender` one at a time.
 * Returns one latency per (subscriber, event), and how many deliveries never arrived.
 */
async function measureDelivery(appender: SessionLog, listener: SessionLog, subscribers: number) {
  const session = newId('sesn');
  await appender.append(session, [anEvent()]); // seq 1: the session exists before anyone subscribes
  const primerSeq = 2;
  const firstSeq = 3;
  const expected = subscribers * DELIVERY_EVENTS;

  const sentAt = new Float64Array(firstSeq + DELIVERY_EVENTS);
  const latencies: number[] = [];
  let primed = 0;
  let onPrimed!: () => void;
  const allPrimed = new Promise<void>((resolve) => (onPrimed = resolve));
  let onDelivered!: () => void;
  const allDelivered = new Promise<void>((resolve) => (onDelivered = resolve));

  // One AbortController per subscriber, as each client connection would have its own.
  const stops = Array.from({ length: subscribers }, () => new AbortController());
  const loops = stops.map(async (stop) => {
    for await (const event of listener.subscribe(session, { afterSeq: 1, signal: stop.signal })) {
      const now = performance.now();
      if (event.seq === primerSeq) {
        if (++primed === subscribers) onPrimed();
        continue;
      }
      latencies.push(now - sentAt[event.seq]!);
      if (latencies.length === expected) onDelivered();
    }
  });

  /** Whether `promise` resolved within DELIVERY_TIMEOUT_MS. */
  const withinTimeout = async (promise: Promise<void>, what: string): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), DELIVERY_TIMEOUT_MS);
    });
    const ok = await Promise.race([promise.then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (!ok) console.error(`  ! ${what}: timed out after ${DELIVERY_TIMEOUT_MS} ms`);
    return ok;
  };

  try {
    // A primer event that every subscriber must see proves that they are all attached and live.
    await appender.append(session, [anEvent()]);
    if (!(await withinTimeout(allPrimed, `priming ${subscribers} subscribers`))) throw new Error('subscribers never became live');

    for (let index = 0; index < DELIVERY_EVENTS; index++) {
      sentAt[firstSeq + index] = performance.now();
      await appender.append(session, [anEvent()]);
      await sleep(DELIVERY_GAP_MS);
    }
    await withinTimeout(allDelivered, `delivery to ${subscribers} subscribers`);
  } finally {
    for (const stop of stops) stop.abort();
    await Promise.all(loops);
  }
  return { ...summarise(latencies), missing: expected - latencies.length };
}

// ---------------------------------------------------------------------------------------------------
// Backends

async function openPglite(): Promise<Backend> {
  const dir = await freshPgliteDir();
  const db = await openDb({ dataDir: dir });
  return {
    name: 'PGlite',
    db,
    async dispose() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PostgreSQL in a fresh schema, through `openDb` (the production path, default pool size). */
async function openPostgresBackend(url: string): Promise<Backend> {
  const postgres = freshPostgres({ url, prefix: 'oma_bench' });
  const opened: Db[] = [];
  const open = async () => {
    const db = await postgres.open();
    opened.push(db);
    return db;
  };
  const dropSchema = () => postgres.drop();
  let db: Db;
  try {
    db = await open();
  } catch (error) {
    await dropSchema().catch(() => {}); // the schema may exist if migrating failed
    throw error;
  }
  return {
    name: 'PostgreSQL',
    db,
    openPeer: open,
    async dispose() {
      await Promise.all(opened.map((each) => each.close()));
      await dropSchema();
    },
  };
}

/** The server settings that decide what "durable" means (PGlite runs with fsync off). */
async function settings(db: Db): Promise<string> {
  const show = async (name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  return `server ${await show('server_version')}, fsync ${await show('fsync')}, synchronous_commit ${await show('synchronous_commit')}`;
}

// ---------------------------------------------------------------------------------------------------
// The run

async function benchmark(backend: Backend) {
  const log = await PostgresSessionLog.open(backend.db);
  let peerLog: SessionLog | undefined;
  const name = backend.name;
  try {
    await measureAppends(log, 8, 0, BACKEND_WARMUP_MS);
    for (const writers of WRITER_COUNTS) {
      const label = writers === 1 ? '1 session' : `${writers} concurrent sessions`;
      const throughputTarget = writers === 32 ? TARGETS.throughput32 : undefined;
      const latencyTarget = writers === 1 ? TARGETS.appendP50 : undefined;

      const grouped = await measureAppends(log, writers);
      const defaults = `${label}, group commit (default)`;
      record(`append, ${defaults}: appends/s`, name, integer(grouped.perSecond), grouped.perSecond, throughputTarget);
      record(`append, ${defaults}: latency p50 / p99 (ms)`, name, `${ms(grouped.p50)} / ${ms(grouped.p99)}`, grouped.p50, latencyTarget);

      // Right after, on the same Db: the same load without group commit. Targets are checked against
      // the default configuration only; these rows are there to compare with it.
      const single = await PostgresSessionLog.open(backend.db, ONE_STATEMENT_PER_APPEND);
      let ungrouped: Awaited<ReturnType<typeof measureAppends>>;
      try {
        ungrouped = await measureAppends(single, writers);
      } finally {
        await single.close();
      }
      const comparison = `${label}, one statement per append (comparison)`;
      record(`append, ${comparison}: appends/s`, name, integer(ungrouped.perSecond));
      record(`append, ${comparison}: latency p50 / p99 (ms)`, name, `${ms(ungrouped.p50)} / ${ms(ungrouped.p99)}`);
      process.stderr.write(`  ${name}: ${writers} writer(s) done\n`);
    }

    const reads = await measureReads(log);
    record('read 100-event slice of 2,000: p50 / p99 (ms)', name, `${ms(reads.slice.p50)} / ${ms(reads.slice.p99)}`);
    record('full replay, 2,000 events: p50 (ms)', name, ms(reads.replay.p50));
    process.stderr.write(`  ${name}: reads done\n`);

    // The second instance is opened only now, so that it plays no part in the measurements above.
    if (backend.openPeer) peerLog = await PostgresSessionLog.open(await backend.openPeer());
    const deliveries: [string, SessionLog | undefined][] = [
      ['same instance', log],
      ['other instance (NOTIFY)', peerLog],
    ];
    for (const [where, listener] of deliveries) {
      for (const subscribers of SUBSCRIBER_COUNTS) {
        const measure = `delivery, ${where}, ${integer(subscribers)} subscriber${subscribers > 1 ? 's' : ''}: p50 / p99 (ms)`;
        const target = subscribers === 1_000 ? TARGETS.deliveryP50 : undefined;
        if (!listener) {
          record(measure, name, 'n/a (single process)', undefined, target);
          continue;
        }
        const result = await measureDelivery(log, listener, subscribers);
        const missing = result.missing > 0 ? ` (${integer(result.missing)} not delivered)` : '';
        record(measure, name, `${ms(result.p50)} / ${ms(result.p99)}${missing}`, result.p50, target);
        process.stderr.write(`  ${name}: delivery ${where} ×${subscribers} done\n`);
      }
    }
  } finally {
    await peerLog?.close();
    await log.close();
  }
}

function table(): string {
  const lines = ['| measure | PGlite | PostgreSQL | target (PostgreSQL) |', '| --- | ---: | ---: | --- |'];
  for (const entry of rows) {
    let verdict = '';
    if (entry.target && entry.checked !== undefined) verdict = entry.target.isMet(entry.checked) ? ' — met' : ' — **missed**';
    const target = entry.target ? `${entry.target.text}${verdict}` : '';
    lines.push(`| ${entry.measure} | ${entry.cells.PGlite ?? 'skipped'} | ${entry.cells.PostgreSQL ?? 'skipped'} | ${target} |`);
  }
  return lines.join('\n');
}


export async function main(): Promise<void> {
  const began = performance.now();
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  console.log(`Environment: ${environmentLine()}`);

  const notes: string[] = [];
  for (const name of BACKENDS) {
    let backend: Backend;
    try {
      backend = name === 'PGlite' ? await openPglite() : await openPostgresBackend(url);
    } catch (error) {
      const reason = `${name} skipped: ${(error as Error).message}`;
      console.error(reason);
      notes.push(reason);
      continue;
    }
    try {
      const where = name === 'PostgreSQL' ? `${describeUrl(url)}, ` : '';
      notes.push(`${name}: ${where}${await settings(backend.db)}`);
      process.stderr.write(`${name}…\n`);
      await benchmark(backend);
    } finally {
      await backend.dispose();
    }
  }

  console.log(
    `Events ~${EVENT_BYTES} B; appends measured ${APPEND_MEASURE_MS} ms after ${APPEND_WARMUP_MS} ms warm-up ` +
      `(and ${BACKEND_WARMUP_MS} ms of unrecorded appends before each backend's first), ` +
      `with the defaults and (comparison) with ${JSON.stringify(ONE_STATEMENT_PER_APPEND)}; ` +
      `delivery over ${DELIVERY_EVENTS} appends ${DELIVERY_GAP_MS} ms apart.`,
  );
  for (const note of notes) console.log(note);
  console.log(
    `Load average at the end: ${loadAverage()} (this run's own load included); ` +
      `run took ${Math.round((performance.now() - began) / 1_000)} s.`,
  );
  console.log();
  console.log(table());
}
