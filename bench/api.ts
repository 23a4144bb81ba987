/**
 * API benchmark: a whole oma server driven through the official `@anthropic-ai/sdk`, on PGlite and on
 * PostgreSQL, side by side.
 *
 *   npm run bench -- api
 *
 * Each backend in turn (never both at once) gets a fresh server from `startTestOma` (fresh PGlite
 * directory, or a fresh schema in the PostgreSQL at DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test), with rate limits off; when PostgreSQL cannot be reached only
 * PGlite is measured. The server is stopped and its storage deleted at the end.
 *
 * What is measured (the issue's list):
 * - send: 50 concurrent clients, each on its own session, each sending one `user.message` event of
 *   ~200 characters per `events.send` call in a loop. After a warm-up, every call started in the
 *   measuring window is timed (`performance.now()` around the awaited SDK call); requests/s is those
 *   calls over the time from the window's start until the last of them resolved. For reference (not
 *   in the issue), the same with one client alone: a send's latency without queueing.
 * - list: one session with 1,000 events (10 pages of 100); 50 concurrent clients, each calling
 *   `events.list(session, { limit: 100, page })` in a loop, `page` a uniformly random one of the 10
 *   (the first page without a cursor, the others with `next_page` cursors collected beforehand).
 *   Timed and counted like send.
 * - SSE delivery: N open streams (1, 100, 1,000) on one fresh session, each `events.stream()` consumed
 *   by its own `for await` loop. A marker event that every stream must receive proves them all live;
 *   then events are sent one at a time, a fixed gap apart. Latency is from just before `send` to the
 *   moment a stream's loop receives that event (matched by the event id `send` returned), for every
 *   (stream, event) pair; deliveries that never arrive are counted and reported.
 *
 * All "clients" are one shared `Anthropic` instance (the one `startTestOma` makes: retries off). The SDK
 * calls Node's global `fetch`, whose undici dispatcher keeps connections alive and has no per-origin
 * connection limit, so 50 concurrent calls use up to 50 keep-alive sockets and 1,000 streams get
 * 1,000 sockets without any dispatcher configuration; separate `Anthropic` instances would share that
 * same pool.
 *
 * With send and list the table also shows how busy the event loop was and who used the CPU in the
 * window, in cores (the machine has 2): this process, the local PostgreSQL server's processes, and
 * the rest of the machine (from /proc; "?" where /proc is missing). A busy "rest" means the run was
 * disturbed.
 *
 * Everything runs in this one Node process: the load generator, the SDK clients and the server share
 * one event loop (and, for PGlite, the database engine too), and PostgreSQL runs on the same cores. So
 * every number includes the client's own work; a server on its own machine would do better.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type Anthropic from '@anthropic-ai/sdk';
import { describeUrl } from '../src/db/postgres.ts';
import type { Config } from '../src/config.ts';
import type { TestOma } from '../src/testing/server.ts';
import { environmentLine, integer, loadAverage, ms, summarise } from './lib/stats.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Characters of text in each sent `user.message`. */
const TEXT_CHARS = 200;
/** Distinct texts to cycle through, so that no two consecutive events are identical. */
const TEXT_VARIANTS = 64;

const CLIENTS = 50;
const WARMUP_MS = 1_000;
const MEASURE_MS = 4_000;

const LIST_PAGES = 10;
const PAGE_SIZE = 100;

const STREAM_COUNTS = [1, 100, 1_000] as const;
const DELIVERY_EVENTS = 50;
const DELIVERY_GAP_MS = 20;
/** Give up waiting (for streams to open or events to arrive) after this long; what is missing is reported. */
const DELIVERY_TIMEOUT_MS = 20_000;

/** The server's settings for the benchmark: no rate limits (they would cap every loop here). */
const SERVER_CONFIG: Partial<Config> = { rateLimits: { createPerMinute: 0, readPerMinute: 0 } };

type BackendName = 'PGlite' | 'PostgreSQL';
const BACKENDS: readonly BackendName[] = ['PGlite', 'PostgreSQL'];

/** A target from the issue ("on this 2-core machine class"), checked against each backend's p50. */
interface Target {
  text: string;
  isMet(p50: number): boolean;
}

const TARGETS = {
  sendP50: { text: 'p50 ≤ 5 ms', isMet: (p50) => p50 <= 5 },
  streams1000P50: { text: 'p50 ≤ 20 ms', isMet: (p50) => p50 <= 20 },
} satisfies Record<string, Target>;

/** One row of the result table. */
interface Row {
  measure: string;
  cells: Partial<Record<BackendName, string>>;
  target?: Target;
  /** Each backend's number the target is checked against. */
  checked: Partial<Record<BackendName, number>>;
}

const rows: Row[] = [];

/** Record a backend's result; rows appear in first-use order. */
function record(measure: string, backend: BackendName, text: string, target?: { target: Target; value: number }) {
  let entry = rows.find((candidate) => candidate.measure === measure);
  if (!entry) {
    entry = { measure, cells: {}, checked: {}, ...(target ? { target: target.target } : {}) };
    rows.push(entry);
  }
  entry.cells[backend] = text;
  if (target) entry.checked[backend] = target.value;
}

const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;

// ---------------------------------------------------------------------------------------------------
// Events

const texts = Array.from({ length: TEXT_VARIANTS }, () => randomBytes(TEXT_CHARS).toString('base64url').slice(0, TEXT_CHARS));
let nextText = 0;

/** One `user.message` as the SDK sends it. */
function userMessage() {
  return { type: 'user.message' as const, content: [{ type: 'text' as const, text: texts[nextText++ % texts.length]! }] };
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting: who used the two cores while something was measured

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every common Linux build). */
const TICKS_PER_SECOND = 100;

interface CpuSnapshot {
  at: number;
  /** This process (server, clients and, for PGlite, the database engine). */
  own: NodeJS.CpuUsage;
  /** CPU seconds of each `postgres` process on this machine, by pid; undefined without /proc. */
  postgres: Map<string, number> | undefined;
  /** The whole machine's busy time, in seconds; undefined without /proc. */
  machine: number | undefined;
}

/** CPU seconds used so far by each process named `postgres` (the local PostgreSQL server). */
function postgresSeconds(): Map<string, number> | undefined {
  const seconds = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      // Fields after "(comm) ": state ppid … utime (14th field overall) stime (15th).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
    } catch {
      // The process ended between listing and reading.
    }
  }
  return seconds;
}

/**
 * PostgreSQL's CPU seconds between two snapshots: per process, so that a backend exiting in between
 * does not subtract its lifetime (its share of the window is lost; a backend started in between counts
 * whole).
 */
function postgresBetween(start: Map<string, number>, end: Map<string, number>): number {
  let total = 0;
  for (const [pid, seconds] of end) total += seconds - (start.get(pid) ?? 0);
  return total;
}

/** Busy CPU seconds of the whole machine since boot (all cores). */
function machineSeconds(): number | undefined {
  try {
    const [, ...times] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const [user, nice, system, , , irq, softirq, steal] = times.map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function cpuSnapshot(): CpuSnapshot {
  return { at: performance.now(), own: process.cpuUsage(), postgres: postgresSeconds(), machine: machineSeconds() };
}

interface CpuUse {
  /** Cores used on average since the snapshot: this process, PostgreSQL, everything else. */
  own: number;
  postgres: number | undefined;
  rest: number | undefined;
  /** CPU milliseconds of this process per second of wall-clock time, i.e. `own` × 1,000. */
  ownMs: number;
}

function cpuSince(start: CpuSnapshot): CpuUse {
  const end = cpuSnapshot();
  const seconds = (end.at - start.at) / 1_000;
  const used = process.cpuUsage(start.own);
  const own = (used.user + used.system) / 1e6;
  const postgres = start.postgres && end.postgres ? postgresBetween(start.postgres, end.postgres) : undefined;
  const machine = start.machine !== undefined && end.machine !== undefined ? end.machine - start.machine : undefined;
  return {
    own: own / seconds,
    postgres: postgres === undefined ? undefined : postgres / seconds,
    rest: machine === undefined ? undefined : Math.max(0, machine - own - (postgres ?? 0)) / seconds,
    ownMs: own * 1_000,
  };
}

/** "1.23 / 0.45 / 0.06" (this process / PostgreSQL / rest of the machine). */
function cores(use: CpuUse): string {
  const format = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));
  return `${format(use.own)} / ${format(use.postgres)} / ${format(use.rest)}`;
}

// ---------------------------------------------------------------------------------------------------
// Closed-loop load: `clients` loops, each awaiting one call at a time

interface LoadResult {
  perSecond: number;
  p50: number;
  p99: number;
  /** Share of the window the event loop was busy (server and clients together). */
  eventLoopBusy: number;
  cpu: CpuUse;
}

/**
 * Run `call(client)` in `clients` concurrent loops for WARMUP_MS + MEASURE_MS; time every call
 * started after the warm-up.
 */
async function closedLoop(clients: number, call: (client: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const stopAt = measureFrom + MEASURE_MS;
  // Event-loop and CPU use are sampled when the window opens (by the first call to start in it).
  let elu: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  let cpu: CpuSnapshot | undefined;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < stopAt) {
        if (!cpu && performance.now() >= measureFrom) {
          elu = performance.eventLoopUtilization();
          cpu = cpuSnapshot();
        }
        const before = performance.now();
        await call(client);
        const took = performance.now() - before;
        if (before >= measureFrom) latencies.push(took);
      }
    }),
  );
  const finished = performance.now();
  const busy = performance.eventLoopUtilization(elu).utilization;
  const { p50, p99 } = summarise(latencies);
  return {
    perSecond: latencies.length / ((finished - measureFrom) / 1_000),
    p50,
    p99,
    eventLoopBusy: busy,
    cpu: cpuSince(cpu!),
  };
}

// ---------------------------------------------------------------------------------------------------
// Measurements

/** `clients` concurrent `events.send` loops, one session each. */
async function measureSend(client: Anthropic, agentId: string, environmentId: string, clients: number): Promise<LoadResult> {
  const sessions = await Promise.all(
    Array.from({ length: clients }, () => client.beta.sessions.create({ agent: agentId, environment_id: environmentId })),
  );
  return closedLoop(clients, (index) => client.beta.sessions.events.send(sessions[index]!.id, { events: [userMessage()] }));
}

/** `CLIENTS` concurrent `events.list` loops over random 100-event pages of a 1,000-event session. */
async function measureList(client: Anthropic, agentId: string, environmentId: string): Promise<LoadResult> {
  const session = await client.beta.sessions.create({ agent: agentId, environment_id: environmentId });
  // Seed with 100 events per request: how the session gets filled is not what is measured.
  for (let page = 0; page < LIST_PAGES; page++) {
    await client.beta.sessions.events.send(session.id, { events: Array.from({ length: PAGE_SIZE }, () => userMessage()) });
  }
  // The cursor for each page: undefined for the first, then each page's `next_page`.
  const cursors: (string | undefined)[] = [undefined];
  for (let page = 0; page < LIST_PAGES - 1; page++) {
    const listed = await client.beta.sessions.events.list(session.id, { limit: PAGE_SIZE, ...(cursors[page] ? { page: cursors[page] } : {}) });
    if (!listed.next_page) throw new Error(`page ${page + 1} of the seeded session has no next_page`);
    cursors.push(listed.next_page);
  }

  return closedLoop(CLIENTS, async () => {
    const cursor = cursors[Math.floor(Math.random() * cursors.length)];
    const listed = await client.beta.sessions.events.list(session.id, { limit: PAGE_SIZE, ...(cursor ? { page: cursor } : {}) });
    if (listed.data.length !== PAGE_SIZE) throw new Error(`a page had ${listed.data.length} events, expected ${PAGE_SIZE}`);
  });
}

/** Arrival times per event id, across all streams, with waits for conditions on them. */
class Arrivals {
  /** Event id → receive times (one per stream that got it). */
  readonly byId = new Map<string, number[]>();
  /** Arrivals of the events in `counted`, whenever they arrived. */
  countedArrivals = 0;
  private readonly counted = new Set<string>();
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  record(id: string, at: number) {
    const times = this.byId.get(id);
    if (times) times.push(at);
    else this.byId.set(id, [at]);
    if (this.counted.has(id)) this.countedArrivals++;
    if (this.waiters.length > 0) this.check();
  }

  /** Count arrivals of `id` from now on, and those that came before its id was known. */
  count(id: string) {
    this.counted.add(id);
    this.countedArrivals += this.byId.get(id)?.length ?? 0;
    this.check();
  }

  /** Whether `test` became true within DELIVERY_TIMEOUT_MS (re-checked on every arrival). */
  async until(test: () => boolean): Promise<boolean> {
    if (test()) return true;
    let timer: NodeJS.Timeout | undefined;
    const met = new Promise<true>((resolve) => this.waiters.push({ test, resolve: () => resolve(true) }));
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), DELIVERY_TIMEOUT_MS)));
    const result = await Promise.race([met, timedOut]);
    clearTimeout(timer);
    this.waiters = this.waiters.filter((waiter) => waiter.test !== test);
    return result;
  }

  private check() {
    for (const waiter of this.waiters.filter((candidate) => candidate.test())) waiter.resolve();
  }
}

interface DeliveryResult {
  p50: number;
  p99: number;
  delivered: number;
  expected: number;
  /** Time to open all streams and see the marker on every one (ms). */
  openMs: number;
  /** p50 of the `send` calls themselves while the streams were open (ms). */
  sendP50: number;
  /** CPU used from the first send until the last delivery, per sent event (ms of this process). */
  cpuPerEventMs: number;
  /** CPU use over that time. */
  cpu: CpuUse;
  /** Stream loops that ended with an error other than our own abort. */
  errors: string[];
}

/** Send one `user.message`; the stored event as the response echoes it. */
async function sendOne(client: Anthropic, sessionId: string): Promise<{ id: string }> {
  const sent = (await client.beta.sessions.events.send(sessionId, { events: [userMessage()] })).data?.[0];
  if (!sent) throw new Error('events.send returned no event');
  return sent;
}

/** `streams` SSE streams on one fresh session; DELIVERY_EVENTS sends, DELIVERY_GAP_MS apart. */
async function measureDelivery(client: Anthropic, agentId: string, environmentId: string, streams: number): Promise<DeliveryResult> {
  const session = await client.beta.sessions.create({ agent: agentId, environment_id: environmentId });
  const arrivals = new Arrivals();
  const errors: string[] = [];

  const opening = performance.now();
  // Each `stream()` resolves when the response headers arrive; the streams are consumed right after.
  const opened = await Promise.allSettled(Array.from({ length: streams }, () => client.beta.sessions.events.stream(session.id)));
  const open = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  for (const result of opened) if (result.status === 'rejected') errors.push(`open: ${(result.reason as Error).message}`);
  const loops = open.map(async (stream) => {
    try {
      for await (const event of stream) {
        const at = performance.now();
        if ('id' in event) arrivals.record(event.id, at); // every stored event has one
      }
    } catch (error) {
      errors.push(`stream: ${(error as Error).message}`);
    }
  });

  const sendLatencies: number[] = [];
  const latencies: number[] = [];
  const expected = streams * DELIVERY_EVENTS;
  try {
    if (open.length < streams) throw new Error(`${streams - open.length} of ${streams} streams failed to open: ${errors[0]}`);
    // A marker every stream must receive: proves all subscriptions are attached and live.
    const marker = await sendOne(client, session.id);
    const live = await arrivals.until(() => (arrivals.byId.get(marker.id)?.length ?? 0) >= streams);
    const openMs = performance.now() - opening;
    if (!live) throw new Error(`only ${arrivals.byId.get(marker.id)?.length ?? 0} of ${streams} streams saw the marker event`);

    const sentAt = new Map<string, number>();
    const cpuAtStart = cpuSnapshot();
    for (let index = 0; index < DELIVERY_EVENTS; index++) {
      const before = performance.now();
      const sent = await sendOne(client, session.id);
      sendLatencies.push(performance.now() - before);
      sentAt.set(sent.id, before);
      arrivals.count(sent.id);
      await sleep(DELIVERY_GAP_MS);
    }
    if (!(await arrivals.until(() => arrivals.countedArrivals >= expected))) {
      console.error(`  ! delivery to ${streams} streams: timed out after ${DELIVERY_TIMEOUT_MS} ms`);
    }
    const cpu = cpuSince(cpuAtStart);
    for (const [id, before] of sentAt) for (const at of arrivals.byId.get(id) ?? []) latencies.push(at - before);
    return {
      ...summarise(latencies),
      delivered: latencies.length,
      expected,
      openMs,
      sendP50: summarise(sendLatencies).p50,
      cpuPerEventMs: cpu.ownMs / DELIVERY_EVENTS,
      cpu,
      errors,
    };
  } finally {
    // Close every stream from the client side (what a client going away does) and wait for the loops.
    for (const stream of open) stream.controller.abort();
    await Promise.all(loops);
  }
}

// ---------------------------------------------------------------------------------------------------
// The run

/** The database settings that matter for commit latency. */
async function settings(oma: TestOma): Promise<string> {
  const show = async (name: string) => (await oma.db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  return `server ${await show('server_version')}, fsync ${await show('fsync')}, synchronous_commit ${await show('synchronous_commit')}`;
}

async function benchmark(oma: TestOma, name: BackendName, notes: string[]) {
  const client = oma.client;
  const agent = await client.beta.agents.create({ name: 'bench agent', model: 'claude-sonnet-4-6' });
  const environment = await client.beta.environments.create({ name: `bench env ${randomBytes(4).toString('hex')}` });

  // For reference, not in the issue: one client alone, i.e. the latency of a send with no queueing.
  const alone = await measureSend(client, agent.id, environment.id, 1);
  record('send, 1 client alone (reference): p50 / p99 (ms)', name, `${ms(alone.p50)} / ${ms(alone.p99)}`);
  process.stderr.write(`  ${name}: send, 1 client done\n`);

  const send = await measureSend(client, agent.id, environment.id, CLIENTS);
  record(`send, ${CLIENTS} concurrent clients: requests/s`, name, integer(send.perSecond));
  record(`send, ${CLIENTS} concurrent clients: p50 / p99 (ms)`, name, `${ms(send.p50)} / ${ms(send.p99)}`, { target: TARGETS.sendP50, value: send.p50 });
  record(`send, ${CLIENTS} clients: event loop busy; CPU cores: this process / PostgreSQL / rest of machine`, name, `${percent(send.eventLoopBusy)}; ${cores(send.cpu)}`);
  process.stderr.write(`  ${name}: send, ${CLIENTS} clients done\n`);

  const list = await measureList(client, agent.id, environment.id);
  record(`list 100-event page, ${CLIENTS} concurrent clients: requests/s`, name, integer(list.perSecond));
  record(`list 100-event page, ${CLIENTS} concurrent clients: p50 / p99 (ms)`, name, `${ms(list.p50)} / ${ms(list.p99)}`);
  record(`list, ${CLIENTS} clients: event loop busy; CPU cores: this process / PostgreSQL / rest of machine`, name, `${percent(list.eventLoopBusy)}; ${cores(list.cpu)}`);
  process.stderr.write(`  ${name}: list done\n`);

  for (const streams of STREAM_COUNTS) {
    const label = `${integer(streams)} stream${streams > 1 ? 's' : ''}`;
    const result = await measureDelivery(client, agent.id, environment.id, streams);
    const missing = result.expected - result.delivered;
    const delivered = `${integer(result.delivered)} of ${integer(result.expected)}${missing > 0 ? ` — **${integer(missing)} missing**` : ''}`;
    const target = streams === 1_000 ? { target: TARGETS.streams1000P50, value: result.p50 } : undefined;
    record(`SSE delivery send→client, ${label}: p50 / p99 (ms) (deliveries measured)`, name, `${ms(result.p50)} / ${ms(result.p99)} (${delivered})`, target);
    notes.push(
      `${name}, ${label}: all open and live after ${ms(result.openMs)} ms; send p50 while open ${ms(result.sendP50)} ms; ` +
        `CPU per sent event ${ms(result.cpuPerEventMs)} ms of this process (cores this process / PostgreSQL / rest: ${cores(result.cpu)})` +
        (result.errors.length > 0 ? `; ${result.errors.length} stream errors, first: ${result.errors[0]}` : ''),
    );
    process.stderr.write(`  ${name}: ${label} done\n`);
  }
}

function table(): string {
  const lines = ['| measure | PGlite | PostgreSQL | target |', '| --- | ---: | ---: | --- |'];
  for (const entry of rows) {
    let target = '';
    if (entry.target) {
      const verdicts = BACKENDS.flatMap((backend) => {
        const value = entry.checked[backend];
        return value === undefined ? [] : [`${backend} ${entry.target!.isMet(value) ? 'met' : '**missed**'}`];
      });
      target = `${entry.target.text}${verdicts.length > 0 ? ` — ${verdicts.join(', ')}` : ''}`;
    }
    lines.push(`| ${entry.measure} | ${entry.cells.PGlite ?? 'skipped'} | ${entry.cells.PostgreSQL ?? 'skipped'} | ${target} |`);
  }
  return lines.join('\n');
}

export async function main(): Promise<void> {
  const began = performance.now();
  // startTestOma's PostgreSQL storage reads DATABASE_URL when src/testing/databases.ts is first loaded,
  // hence the dynamic import after setting it.
  process.env.DATABASE_URL ||= DEFAULT_DATABASE_URL;
  const url = process.env.DATABASE_URL;
  const { startTestOma } = await import('../src/testing/server.ts');

  console.log(`Environment: ${environmentLine()}`);

  const notes: string[] = [];
  for (const name of BACKENDS) {
    let oma: TestOma;
    try {
      oma = await startTestOma({ storage: name === 'PGlite' ? 'pglite' : 'postgres', config: SERVER_CONFIG });
    } catch (error) {
      const reason = `${name} skipped: ${(error as Error).message}`;
      console.error(reason);
      notes.push(reason);
      continue;
    }
    try {
      const where = name === 'PostgreSQL' ? `${describeUrl(url)}, ` : '';
      notes.push(`${name}: ${where}${await settings(oma)}`);
      process.stderr.write(`${name}…\n`);
      await benchmark(oma, name, notes);
    } finally {
      await oma.dispose();
    }
  }

  console.log(
    `One process: server, ${CLIENTS} SDK clients (one shared Anthropic instance, keep-alive, no connection limit) and streams share one event loop. ` +
      `send/list measured ${MEASURE_MS} ms after ${WARMUP_MS} ms warm-up; send: one session per client, one ~${TEXT_CHARS}-char user.message per call; ` +
      `list: random one of ${LIST_PAGES} pages of ${PAGE_SIZE}; SSE: ${DELIVERY_EVENTS} sends ${DELIVERY_GAP_MS} ms apart to N streams on one session.`,
  );
  for (const note of notes) console.log(note);
  console.log(
    `Load average at the end: ${loadAverage()} (this run's own load included); ` +
      `run took ${Math.round((performance.now() - began) / 1_000)} s.`,
  );
  console.log();
  console.log(table());
}
