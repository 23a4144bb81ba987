/**
 * Brain benchmark: the durable tool loop on embedded PGlite and on PostgreSQL, side by side.
 *
 *   npm run bench -- brain
 *
 * PostgreSQL comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); every server
 * gets a fresh schema, dropped at the end. When it cannot be reached only PGlite is measured. PGlite
 * gets copies of the migrated template directory, deleted at the end.
 *
 * The model is a bench-local, zero-latency one (`BenchModel`): it answers at once from prebuilt
 * stream events, never copies the request, and records `performance.now()` of every call. A
 * session's first message, `bench <tag> <n>`, tells it to answer the first n calls with one `bash`
 * tool use (`{command: "x", output_bytes: 1024}`, which the echo sandbox answers with 1 KB) and
 * every later call with `end_turn` text. So model and tool take ~0 ms, and the time between two
 * consecutive model calls is the brain's whole cost of one loop iteration ("turn"): fold, decide,
 * append `span.model_request_start` / `agent.tool_use` / `span.model_request_end` /
 * `agent.tool_result` durably, run the tool, rebuild the request from the whole log.
 *
 * What is measured (the issue's list), each backend in turn, never both at once:
 * - turn overhead: one server (`startOma`: API, scheduler, brains), one session at a time looping
 *   LOOP_TOOL_CALLS turns; intervals between consecutive model calls in windows of WINDOW turns
 *   starting after 10, 100 and 500 prior turns, pooled over LOOP_SESSIONS sessions (after one
 *   unrecorded warm-up session). With them: statements (every `db.query`) and CPU per turn (this
 *   process, the PostgreSQL server, the rest of the machine, from /proc), and, for context, the
 *   per-turn work that reads the whole history timed alone (`buildRequest`, and the request's JSON).
 * - WAL per turn (PostgreSQL): one more looping session; `pg_current_wal_lsn()` read (from the model,
 *   before it answers) at the start and end of each window; bytes ÷ WINDOW. The LSN is cluster-wide:
 *   other client connections are counted, and with pg_walinspect each window's records are split into
 *   this benchmark's schema and everything else.
 * - resume: a session with ≥ RESUME_EVENTS events, idle; then a user message is sent on a server
 *   running no brains, and (warm) a fresh `Brain` in this already warm process calls `wake`; or
 *   (fresh) bench/brain-resume.ts is spawned to open the database and call `wake`. Time to the first
 *   model call.
 * - send → first `agent.*` event: sessions whose model answers `end_turn` text at once; an event
 *   stream opened first, then `events.send` of a user message timed until the stream yields the first
 *   `agent.*` event.
 */
import Anthropic from '@anthropic-ai/sdk';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { Brain } from '../src/brain/brain.ts';
import { DEFAULT_BRAIN_OPTIONS } from '../src/brain/options.ts';
import { buildRequest, referencedFiles, type AgentSnapshot } from '../src/brain/request.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { Db } from '../src/db/index.ts';
import { describeUrl } from '../src/db/postgres.ts';
import type { Model, ModelRequest, ModelStreamEvent } from '../src/model/interface.ts';
import { startOma, type RunningOma } from '../src/server.ts';
import { freshPgliteDir, freshPostgres } from '../src/testing/databases.ts';
import { EchoSandboxProvider } from '../src/testing/echo-sandbox.ts';
import type { ResumeArguments, ResumeTimings } from './brain-resume.ts';
import { environmentLine, integer, loadAverage, ms, summarise } from './lib/stats.ts';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const API_KEY = 'sk-oma-bench-admin-key-0123456789';
/** Every PostgreSQL connection of this run (pool, LISTEN, child process) carries this `application_name`. */
const APP_NAME = 'oma-bench-brain';

/** Windows start after this many prior turns. */
const POSITIONS = [10, 100, 500] as const;
/** Turns (intervals between model calls) per window. */
const WINDOW = 30;
/** Tool-use answers per looping session: enough for the last window, plus one. */
const LOOP_TOOL_CALLS = POSITIONS.at(-1)! + WINDOW + 1;
const LOOP_SESSIONS = 5;
const WARMUP_TOOL_CALLS = 100;
const LOOP_TIMEOUT_MS = 120_000;

const RESUME_EVENTS = 1_000;
const WARM_RESUMES = 10;
const FRESH_RESUMES = 5;

const FIRST_EVENT_SESSIONS = 50;
const FIRST_EVENT_WARMUP = 3;
const FIRST_EVENT_TIMEOUT_MS = 10_000;

const BRAIN_OPTIONS = { ...DEFAULT_BRAIN_OPTIONS, maxToolCallsPerTurn: 100_000 };

type BackendName = 'PGlite' | 'PostgreSQL';
const BACKENDS: readonly BackendName[] = ['PGlite', 'PostgreSQL'];

// ---------------------------------------------------------------------------------------------------
// The model

/** One model call as the model saw it. */
interface Call {
  /** `performance.now()` when the brain called `stream`. */
  at: number;
  /** SQL statements the server's `Db` had run by then (see `countStatements`). */
  statements: number;
  /** CPU time of this process by then (µs, user + system). */
  cpuUs: number;
}

/** Runs on a call before it is answered; a promise it returns is awaited first (not part of the call's time). */
type CallHook = (index: number, request: ModelRequest) => Promise<void> | void;

const USAGE = { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
const TOOL_INPUT = JSON.stringify({ command: 'x', output_bytes: 1024 });

const MESSAGE_START: ModelStreamEvent = {
  type: 'message_start',
  message: {
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    model: 'bench',
    content: [],
    container: null,
    diagnostics: null,
    stop_reason: null,
    stop_sequence: null,
    stop_details: null,
    usage: {
      ...USAGE,
      output_tokens: 1,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: 'standard',
      inference_geo: null,
      speed: null,
    },
  },
};
const BLOCK_STOP: ModelStreamEvent = { type: 'content_block_stop', index: 0 };
const MESSAGE_STOP: ModelStreamEvent = { type: 'message_stop' };
const stopWith = (reason: 'tool_use' | 'end_turn'): ModelStreamEvent => ({
  type: 'message_delta',
  delta: { stop_reason: reason, stop_sequence: null, stop_details: null, container: null },
  usage: { ...USAGE, output_tokens_details: null, server_tool_use: null },
});
const TOOL_USE_TAIL: ModelStreamEvent[] = [
  { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: TOOL_INPUT } },
  BLOCK_STOP,
  stopWith('tool_use'),
  MESSAGE_STOP,
];
const END_TURN_EVENTS: ModelStreamEvent[] = [
  MESSAGE_START,
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'done' } },
  BLOCK_STOP,
  stopWith('end_turn'),
  MESSAGE_STOP,
];

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/**
 * Zero-latency model for the benchmark. Shared by every session of a server; a session's first user
 * message (`bench <tag> <n>`) names its calls (`calls.get(tag)`) and how many of them get a tool use.
 */
class BenchModel implements Model {
  readonly calls = new Map<string, Call[]>();
  /** Statements run so far by the server's Db (set once the server is up). */
  statements: () => number = () => 0;
  private readonly hooks = new Map<string, CallHook>();
  private toolUses = 0;

  onCall(tag: string, hook: CallHook) {
    this.hooks.set(tag, hook);
  }

  callsOf(tag: string): Call[] {
    return this.calls.get(tag) ?? [];
  }

  stream(request: ModelRequest): AsyncIterable<ModelStreamEvent> {
    const call: Call = { at: performance.now(), statements: this.statements(), cpuUs: cpuNow() };
    const { tag, toolCalls } = promptOf(request);
    let calls = this.calls.get(tag);
    if (!calls) this.calls.set(tag, (calls = []));
    const index = calls.push(call) - 1;
    const pending = this.hooks.get(tag)?.(index, request);
    if (index >= toolCalls) return respond(END_TURN_EVENTS, pending);
    const start: ModelStreamEvent = {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: `toolu_bench_${++this.toolUses}`, name: 'bash', input: {}, caller: { type: 'direct' } },
    };
    return respond([MESSAGE_START, start, ...TOOL_USE_TAIL], pending);
  }
}

async function* respond(events: readonly ModelStreamEvent[], pending: Promise<void> | void): AsyncGenerator<ModelStreamEvent> {
  if (pending) await pending;
  yield* events;
}

/** `bench <tag> <n>` from the first user message. */
function promptOf(request: ModelRequest): { tag: string; toolCalls: number } {
  const content = request.messages[0]?.content;
  const text = typeof content === 'string' ? content : (content?.find((block) => block.type === 'text') as { text: string } | undefined)?.text;
  const match = text?.match(/^bench (\S+) (\d+)$/);
  return match ? { tag: match[1]!, toolCalls: Number(match[2]) } : { tag: 'unknown', toolCalls: 0 };
}

const prompt = (tag: string, toolCalls: number) => userText(`bench ${tag} ${toolCalls}`);
const userText = (text: string) => ({ type: 'user.message' as const, content: [{ type: 'text' as const, text }] });

// ---------------------------------------------------------------------------------------------------
// Storage and servers

interface Storage {
  name: BackendName;
  /** Config fields pointing a server at this storage. */
  config: Partial<Config>;
  /** The same for bench/brain-resume.ts. */
  resume: Omit<ResumeArguments, 'sessionId' | 'spawnAt'>;
  /** PostgreSQL schema. */
  schema?: string;
  remove(): Promise<void>;
}

async function createStorage(name: BackendName, url: string): Promise<Storage> {
  if (name === 'PGlite') {
    const dir = await freshPgliteDir();
    return { name, config: { dataDir: dir }, resume: { dataDir: dir }, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const postgres = freshPostgres({ url, prefix: 'oma_bench' });
  return {
    name,
    config: { databaseUrl: url, databaseSchema: postgres.schema },
    resume: { databaseUrl: url, schema: postgres.schema },
    schema: postgres.schema,
    remove: postgres.drop,
  };
}

interface Server {
  oma: RunningOma;
  client: Anthropic;
  /** SQL statements run through the server's Db so far. */
  statements: () => number;
}

/** Brain failures are logged (to stderr) rather than lost. */
const logger = pino({ level: 'warn' }, pino.destination(2));

/** `oma serve` in this process on `storage`: rate limits off, `brains` brains (0: none, and no scheduler). */
async function startServer(storage: Storage, brains: number, model?: Model): Promise<Server> {
  const config = loadConfig(
    {},
    { port: 0, apiKey: API_KEY, rateLimits: { createPerMinute: 0, readPerMinute: 0 }, brains, brain: BRAIN_OPTIONS, ...storage.config },
  );
  const oma = await startOma(config, logger, { model, sandboxes: new EchoSandboxProvider() });
  return { oma, client: new Anthropic({ baseURL: oma.url, apiKey: API_KEY, maxRetries: 0 }), statements: countStatements(oma.db) };
}

/** Count every `db.query` (the brain, the session log, leases, the API all go through it). */
function countStatements(db: Db): () => number {
  let count = 0;
  const query = db.query.bind(db);
  db.query = ((sql: string, params?: readonly unknown[]) => {
    count++;
    return query(sql, params);
  }) as Db['query'];
  return () => count;
}

async function newAgent(client: Anthropic) {
  const agent = await client.beta.agents.create({ name: 'bench agent', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
  const environment = await client.beta.environments.create({ name: `bench env ${Math.random().toString(36).slice(2)}` });
  return { agentId: agent.id, environmentId: environment.id };
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: () => Promise<string> | string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const result = await Promise.race([promise, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
  return result as T;
}

/** The newest events of a session, for error messages. */
async function tail(oma: RunningOma, sessionId: string): Promise<string> {
  const events = await oma.sessionLog.read(sessionId, { order: 'desc', limit: 5 });
  return `session ${sessionId} ends with ${events
    .reverse()
    .map((event) => (event.type === 'session.error' ? `session.error ${JSON.stringify(event.payload.error)}` : event.type))
    .join(', ')}`;
}

async function lastSeq(oma: RunningOma, sessionId: string): Promise<number> {
  return (await oma.sessionLog.read(sessionId, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;
}

// ---------------------------------------------------------------------------------------------------
// Measurements

/** Loop one session through `toolCalls` turns, then `end_turn`; resolves once the session is idle again. */
async function loopSession(server: Server, model: BenchModel, ids: { agentId: string; environmentId: string }, tag: string, toolCalls: number, hook?: CallHook) {
  const { client, oma } = server;
  const session = await client.beta.sessions.create({ agent: ids.agentId, environment_id: ids.environmentId });
  let onLast!: () => void;
  const last = new Promise<void>((resolve) => (onLast = resolve));
  model.onCall(tag, (index, request) => {
    if (index === toolCalls) onLast();
    return hook?.(index, request);
  });
  await client.beta.sessions.events.send(session.id, { events: [prompt(tag, toolCalls)] });
  await withTimeout(last, LOOP_TIMEOUT_MS, () => tail(oma, session.id));
  // The end_turn answer is in: wait for the brain to record it and go idle, before the next session.
  await withTimeout(
    (async () => {
      while ((await client.beta.sessions.retrieve(session.id)).status !== 'idle') await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    10_000,
    () => tail(oma, session.id),
  );
  return { sessionId: session.id, calls: model.callsOf(tag) };
}

/** Intervals between model calls `from`…`from + WINDOW` (WINDOW of them). */
function windowOf(calls: Call[], from: number) {
  const intervals: number[] = [];
  for (let index = from; index < from + WINDOW; index++) intervals.push(calls[index + 1]!.at - calls[index]!.at);
  const first = calls[from]!;
  const end = calls[from + WINDOW]!;
  return { intervals, statements: (end.statements - first.statements) / WINDOW, cpuMs: (end.cpuUs - first.cpuUs) / 1_000 / WINDOW };
}

interface TurnResult {
  byPosition: Map<number, { p50: number; p99: number; count: number; statements: number; cpuMs: number }>;
  /** Events a looping session ends with, and its turns. */
  events: number;
  turns: number;
  /** The part of a turn that reads the whole history, timed alone at each position (see `measureRequestBuild`). */
  requests: Map<number, RequestCost>;
  /** Over all looping sessions: CPU per turn of this process and of PostgreSQL (ms), and the rest of the machine (cores). */
  cpu: { ownMs: number; postgresMs: number | undefined; restCores: number | undefined };
}

async function measureTurns(server: Server, model: BenchModel, ids: { agentId: string; environmentId: string }, name: BackendName): Promise<TurnResult> {
  await loopSession(server, model, ids, `warmup-${name}`, WARMUP_TOOL_CALLS);
  const pooled = new Map<number, { intervals: number[]; statements: number[]; cpuMs: number[] }>(
    POSITIONS.map((position) => [position, { intervals: [], statements: [], cpuMs: [] }]),
  );
  let events = 0;
  let sessionId = '';
  const cpuAtStart = cpuSnapshot();
  for (let run = 0; run < LOOP_SESSIONS; run++) {
    const looped = await loopSession(server, model, ids, `loop-${name}-${run}`, LOOP_TOOL_CALLS);
    sessionId = looped.sessionId;
    const calls = looped.calls;
    for (const position of POSITIONS) {
      const window = windowOf(calls, position);
      const entry = pooled.get(position)!;
      entry.intervals.push(...window.intervals);
      entry.statements.push(window.statements);
      entry.cpuMs.push(window.cpuMs);
    }
    events = await lastSeq(server.oma, sessionId);
    process.stderr.write(`  ${name}: looping session ${run + 1} of ${LOOP_SESSIONS} done\n`);
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const byPosition = new Map(
    [...pooled].map(([position, entry]) => [position, { ...summarise(entry.intervals), statements: mean(entry.statements), cpuMs: mean(entry.cpuMs) }]),
  );
  const cpu = cpuSince(cpuAtStart);
  const allTurns = LOOP_SESSIONS * (LOOP_TOOL_CALLS + 1);
  return {
    byPosition,
    events,
    turns: LOOP_TOOL_CALLS,
    requests: await measureRequestBuild(server.oma, sessionId),
    cpu: { ownMs: cpu.ownMs / allTurns, postgresMs: cpu.postgresMs === undefined ? undefined : cpu.postgresMs / allTurns, restCores: cpu.restCores },
  };
}

interface RequestCost {
  /** `buildRequest` + `referencedFiles` over the log as it was at that model call, as `callModel` runs them (ms). */
  buildP50: number;
  /** The request's size as JSON, and the time to serialise it: what a real model client does every call. */
  bytes: number;
  stringifyP50: number;
}

const REQUEST_RUNS = 30;

/**
 * The per-turn work that reads the whole history, timed alone on a finished looping session: the
 * events as they were at model call k are those up to its `span.model_request_start`.
 */
async function measureRequestBuild(oma: RunningOma, sessionId: string): Promise<Map<number, RequestCost>> {
  const events = await oma.sessionLog.read(sessionId);
  const { rows } = await oma.db.query<{ agent: AgentSnapshot }>('SELECT agent FROM sessions WHERE id = $1', [sessionId]);
  const agent = rows[0]!.agent;
  const starts = events.flatMap((event, index) => (event.type === 'span.model_request_start' ? [index] : []));
  const costs = new Map<number, RequestCost>();
  for (const position of POSITIONS) {
    const history = events.slice(0, starts[position]! + 1);
    const build: number[] = [];
    const stringify: number[] = [];
    let bytes = 0;
    for (let run = 0; run < REQUEST_RUNS; run++) {
      const before = performance.now();
      referencedFiles(history);
      const request = buildRequest(history, agent, { maxTokens: BRAIN_OPTIONS.maxTokens });
      const built = performance.now();
      const json = JSON.stringify(request);
      stringify.push(performance.now() - built);
      build.push(built - before);
      bytes = Buffer.byteLength(json);
    }
    costs.set(position, { buildP50: summarise(build).p50, bytes, stringifyP50: summarise(stringify).p50 });
  }
  return costs;
}

interface WalWindow {
  position: number;
  bytes: number;
  startLsn: string;
  endLsn: string;
  /** Other client connections (not this run's) seen at the window's start and end: connected / active. */
  others: string;
}

/** One looping session; the LSN read at the start and end of each window (PostgreSQL only). */
async function measureWal(server: Server, model: BenchModel, ids: { agentId: string; environmentId: string }, monitor: pg.Client): Promise<WalWindow[]> {
  const lsnAt = new Map<number, { lsn: string; others: string }>();
  const probeAt = new Set(POSITIONS.flatMap((position) => [position, position + WINDOW]));
  const probe = async (index: number) => {
    const { rows } = await monitor.query<{ lsn: string; connected: string; active: string }>(
      `SELECT pg_current_wal_lsn()::text AS lsn,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name IS DISTINCT FROM $1) AS connected,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name IS DISTINCT FROM $1 AND state = 'active') AS active`,
      [APP_NAME],
    );
    lsnAt.set(index, { lsn: rows[0]!.lsn, others: `${rows[0]!.connected}/${rows[0]!.active}` });
  };
  await loopSession(server, model, ids, 'wal', LOOP_TOOL_CALLS, (index) => (probeAt.has(index) ? probe(index) : undefined));
  const windows: WalWindow[] = [];
  for (const position of POSITIONS) {
    const start = lsnAt.get(position)!;
    const end = lsnAt.get(position + WINDOW)!;
    const { rows } = await monitor.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS bytes', [end.lsn, start.lsn]);
    windows.push({ position, bytes: Number(rows[0]!.bytes), startLsn: start.lsn, endLsn: end.lsn, others: `${start.others} → ${end.others}` });
  }
  return windows;
}

/** Where a window's WAL went, from pg_walinspect's records: this run's schema by relation, or other. */
interface WalBreakdown {
  /** Record bytes (incl. full-page images) per part, largest first. */
  parts: [string, number][];
  /** Records on this run's relations, and the commit records of their transactions. */
  ours: number;
  /**
   * Commit records of transactions that wrote no relation: PostgreSQL gives a transaction that
   * runs `pg_notify` an xid, so its commit is logged (and flushed). The session log's NOTIFYs are
   * these; another connection's would be too.
   */
  tableless: number;
  /** Everything else: other databases and schemas, checkpoints, running-xacts snapshots. */
  others: number;
  fpi: number;
  records: number;
}

/** pg_walinspect in the benchmark's schema (dropped with it), or where it already is; undefined when unavailable. */
async function walinspect(monitor: pg.Client, schema: string): Promise<string | undefined> {
  try {
    await monitor.query(`CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA ${schema}`);
    const { rows } = await monitor.query<{ nspname: string }>(
      `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_walinspect'`,
    );
    return rows[0]?.nspname;
  } catch (error) {
    console.error(`  pg_walinspect unavailable (${(error as Error).message}): no WAL breakdown`);
    return undefined;
  }
}

async function walBreakdown(monitor: pg.Client, inspectSchema: string, schema: string, window: WalWindow): Promise<WalBreakdown> {
  // Our relations by file node: tables, indexes, and their TOAST tables and indexes.
  const relations = await monitor.query<{ node: string; name: string }>(
    `SELECT pg_relation_filenode(c.oid)::text AS node, c.relname AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND pg_relation_filenode(c.oid) IS NOT NULL
     UNION ALL
     SELECT pg_relation_filenode(t.oid)::text, 'TOAST of ' || c.relname FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
      WHERE c.relnamespace = $1::regnamespace
     UNION ALL
     SELECT pg_relation_filenode(i.indexrelid)::text, 'TOAST index of ' || c.relname FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid
      WHERE c.relnamespace = $1::regnamespace`,
    [schema],
  );
  const ours = new Map(relations.rows.map((row) => [row.node, row.name]));
  const { rows } = await monitor.query<{ xid: string; rmgr: string; type: string; length: number; fpi: number; refs: string | null }>(
    `SELECT xid::text AS xid, resource_manager AS rmgr, record_type AS type, record_length AS length, fpi_length AS fpi, block_ref AS refs
       FROM ${inspectSchema}.pg_get_wal_records_info($1, $2)`,
    [window.startLsn, window.endLsn],
  );
  const nodesOf = (refs: string | null) => [...(refs ?? '').matchAll(/rel \d+\/\d+\/(\d+)/g)].map((match) => match[1]!);
  const ourXids = new Set(rows.filter((row) => row.xid !== '0' && nodesOf(row.refs).some((node) => ours.has(node))).map((row) => row.xid));
  const parts = new Map<string, number>();
  let mine = 0;
  let tableless = 0;
  let others = 0;
  let fpi = 0;
  for (const row of rows) {
    const relation = nodesOf(row.refs).find((node) => ours.has(node));
    let part: string;
    if (relation || ourXids.has(row.xid)) {
      part = relation ? ours.get(relation)! : `${row.rmgr} ${row.type}`;
      mine += row.length;
    } else if (row.rmgr === 'Transaction' && row.type === 'COMMIT' && row.xid !== '0' && !row.refs) {
      part = 'commits writing no table (pg_notify)';
      tableless += row.length;
    } else {
      part = `other: ${row.rmgr} ${row.type}`;
      others += row.length;
    }
    fpi += row.fpi;
    parts.set(part, (parts.get(part) ?? 0) + row.length);
  }
  return { parts: [...parts].sort((a, b) => b[1] - a[1]), ours: mine, tableless, others, fpi, records: rows.length };
}

interface ResumeResult {
  events: number;
  warm: { p50: number; p99: number; count: number; max: number };
  /** Full read of the session's log, for scale. */
  readP50: number;
  fresh: ResumeTimings[];
}

/** Resume: a ≥ RESUME_EVENTS-event session woken by a fresh `Brain` here (warm), then by a fresh process. */
async function measureResume(storage: Storage, eventsPerTurn: number): Promise<ResumeResult> {
  const model = new BenchModel();
  let server: Server | undefined = await startServer(storage, 0);
  const brainOf = (running: Server, owner: string) =>
    new Brain({ db: running.oma.db, log: running.oma.sessionLog, model, sandboxes: new EchoSandboxProvider(), owner, options: BRAIN_OPTIONS, logger });
  try {
    const ids = await newAgent(server.client);
    const session = await server.client.beta.sessions.create({ agent: ids.agentId, environment_id: ids.environmentId });
    const tag = `resume-${storage.name}`;
    const send = (running: Server, text: string) => running.client.beta.sessions.events.send(session.id, { events: [userText(text)] });

    // Build the history: a looping turn, then short turns until there are enough events.
    await server.client.beta.sessions.events.send(session.id, { events: [prompt(tag, Math.ceil(RESUME_EVENTS / eventsPerTurn))] });
    if (!(await brainOf(server, 'bench-builder').wake(session.id))) throw new Error('the resume session had no due wake');
    while ((await lastSeq(server.oma, session.id)) < RESUME_EVENTS) {
      await send(server, 'more');
      await brainOf(server, 'bench-builder').wake(session.id);
    }
    const events = await lastSeq(server.oma, session.id);

    const reads: number[] = [];
    for (let run = 0; run < 10; run++) {
      const before = performance.now();
      await server.oma.sessionLog.read(session.id);
      reads.push(performance.now() - before);
    }

    // Warm: this process has run brains on this session already; each wake is a new Brain instance.
    const warm: number[] = [];
    for (let run = 0; run < WARM_RESUMES + 1; run++) {
      await send(server, 'resume');
      const seen = model.callsOf(tag).length;
      const brain = brainOf(server, `bench-warm-${run}`);
      const before = performance.now();
      if (!(await brain.wake(session.id))) throw new Error('warm resume: no due wake');
      const first = model.callsOf(tag)[seen];
      if (!first) throw new Error(`warm resume: the model was not called (${await tail(server.oma, session.id)})`);
      if (run > 0) warm.push(first.at - before); // the first one warms up
    }

    // Fresh process: PostgreSQL may be shared, a PGlite directory may not (this server closes it first).
    const fresh: ResumeTimings[] = [];
    for (let run = 0; run < FRESH_RESUMES; run++) {
      server ??= await startServer(storage, 0);
      await send(server, 'resume');
      if (storage.name === 'PGlite') {
        await server.oma.stop();
        server = undefined;
      }
      fresh.push(await resumeInFreshProcess({ ...storage.resume, sessionId: session.id }));
    }
    return { events, warm: { ...summarise(warm), max: Math.max(...warm) }, readP50: summarise(reads).p50, fresh };
  } finally {
    await server?.oma.stop();
  }
}

const benchDir = dirname(fileURLToPath(import.meta.url));

function resumeInFreshProcess(args: Omit<ResumeArguments, 'spawnAt'>): Promise<ResumeTimings> {
  return new Promise((resolve, reject) => {
    const spawnAt = performance.timeOrigin + performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, 'brain-resume.ts'), JSON.stringify({ ...args, spawnAt })], {
      cwd: dirname(benchDir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench/brain-resume.ts exited with ${code}: ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as ResumeTimings);
      } catch {
        reject(new Error(`bench/brain-resume.ts printed no timings: ${stdout.trim()} ${stderr.trim()}`));
      }
    });
  });
}

interface FirstEventResult {
  /** send start → first `agent.*` event on the stream. */
  firstEvent: { p50: number; p99: number; count: number };
  /** send start → the model called (scheduler picked the wake up, brain built the request). */
  modelCall: { p50: number; p99: number };
  /** send start → send resolved. */
  send: { p50: number; p99: number };
}

async function measureFirstEvent(server: Server, model: BenchModel, ids: { agentId: string; environmentId: string }, name: BackendName): Promise<FirstEventResult> {
  const { client, oma } = server;
  const firstEvent: number[] = [];
  const modelCall: number[] = [];
  const sends: number[] = [];
  for (let run = 0; run < FIRST_EVENT_WARMUP + FIRST_EVENT_SESSIONS; run++) {
    const session = await client.beta.sessions.create({ agent: ids.agentId, environment_id: ids.environmentId });
    const stream = await client.beta.sessions.events.stream(session.id);
    let firstAgentAt: number | undefined;
    const consumed = (async () => {
      for await (const event of stream) {
        if (firstAgentAt === undefined && event.type.startsWith('agent.')) firstAgentAt = performance.now();
        if (event.type === 'session.status_idle') break;
      }
    })();
    const tag = `first-${name}-${run}`;
    const before = performance.now();
    try {
      await client.beta.sessions.events.send(session.id, { events: [prompt(tag, 0)] });
      const sent = performance.now();
      await withTimeout(consumed, FIRST_EVENT_TIMEOUT_MS, () => tail(oma, session.id));
      const call = model.callsOf(tag)[0];
      if (firstAgentAt === undefined || !call) throw new Error(`no agent event or model call: ${await tail(oma, session.id)}`);
      if (run >= FIRST_EVENT_WARMUP) {
        firstEvent.push(firstAgentAt - before);
        modelCall.push(call.at - before);
        sends.push(sent - before);
      }
    } finally {
      stream.controller.abort();
      await consumed.catch(() => {});
    }
  }
  return { firstEvent: summarise(firstEvent), modelCall: summarise(modelCall), send: summarise(sends) };
}

// ---------------------------------------------------------------------------------------------------
// Tables

interface Target {
  text: string;
  isMet(value: number): boolean;
}

interface Row {
  measure: string;
  cells: Partial<Record<BackendName, string>>;
  target?: Target;
  /** Per backend, the value the target is checked against. */
  checked: Partial<Record<BackendName, number>>;
}

class Table {
  private readonly rows: Row[] = [];

  constructor(
    readonly title: string,
    readonly how: string,
  ) {}

  record(measure: string, backend: BackendName, text: string, check?: { target: Target; value: number }) {
    let row = this.rows.find((candidate) => candidate.measure === measure);
    if (!row) this.rows.push((row = { measure, cells: {}, checked: {} }));
    row.cells[backend] = text;
    if (check) {
      row.target = check.target;
      row.checked[backend] = check.value;
    }
  }

  print(skipped: Partial<Record<BackendName, string>>) {
    console.log(`\n## ${this.title}\n`);
    console.log(`How measured: ${this.how}\n`);
    if (this.rows.length === 0) {
      console.log('(nothing measured: PostgreSQL only, and PostgreSQL was skipped)');
      return;
    }
    console.log('| measure | PGlite | PostgreSQL | target |');
    console.log('| --- | ---: | ---: | --- |');
    for (const row of this.rows) {
      let target = '';
      if (row.target) {
        const verdicts = BACKENDS.flatMap((backend) => {
          const value = row.checked[backend];
          return value === undefined ? [] : [`${backend} ${row.target!.isMet(value) ? 'met' : '**missed**'}`];
        });
        target = `${row.target.text}${verdicts.length > 0 ? ` — ${verdicts.join(', ')}` : ''}`;
      }
      const cell = (backend: BackendName) => row.cells[backend] ?? skipped[backend] ?? 'n/a';
      console.log(`| ${row.measure} | ${cell('PGlite')} | ${cell('PostgreSQL')} | ${target} |`);
    }
  }
}

const TARGETS = {
  turnP50: { text: 'p50 ≤ 2 ms', isMet: (p50) => p50 <= 2 },
  flat: { text: 'flat in history (taken as ≤ 1.25×)', isMet: (ratio) => ratio <= 1.25 },
  walPerTurn: { text: '≤ 4 KiB per turn', isMet: (bytes) => bytes <= 4_096 },
  walConstant: { text: 'constant (taken as ≤ 1.25×)', isMet: (ratio) => ratio <= 1.25 },
  resumeWarm: { text: '≤ 20 ms', isMet: (value) => value <= 20 },
  resumeFresh: { text: '≤ 0.5 s', isMet: (value) => value <= 500 },
  firstEventP50: { text: 'p50 ≤ 20 ms', isMet: (p50) => p50 <= 20 },
} satisfies Record<string, Target>;

const bytes = (value: number) => `${integer(value)} B (${(value / 1024).toFixed(2)} KiB)`;
const pair = (summary: { p50: number; p99: number }) => `${ms(summary.p50)} / ${ms(summary.p99)}`;

// ---------------------------------------------------------------------------------------------------
// CPU use, from /proc (Linux): this process, the PostgreSQL server, the rest of the machine

const TICKS_PER_SECOND = 100; // USER_HZ

interface CpuSnapshot {
  at: number;
  /** This process (µs, user + system). */
  own: number;
  /** Busy CPU seconds of the whole machine, and of processes named `postgres`; undefined without /proc. */
  machine?: number;
  postgres?: number;
  /** Children of this process that ended (the spawned resume processes), CPU seconds. */
  children?: number;
}

function cpuSnapshot(): CpuSnapshot {
  const snapshot: CpuSnapshot = { at: performance.now(), own: cpuNow() };
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    snapshot.machine = (fields.slice(0, 8).reduce((sum, value) => sum + value, 0) - idle) / TICKS_PER_SECOND;
    const self = readFileSync('/proc/self/stat', 'utf8');
    const own = self.slice(self.lastIndexOf(')') + 2).split(' ');
    snapshot.children = (Number(own[13]) + Number(own[14])) / TICKS_PER_SECOND; // cutime, cstime
    let postgres = 0;
    for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      // Fields from the 3rd on: utime, stime, cutime, cstime are the 14th–17th. A backend that exited
      // (a closed connection) is counted in the postmaster's cutime/cstime.
      const rest = stat.slice(close + 2).split(' ');
      postgres += (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND;
    }
    snapshot.postgres = postgres;
  } catch {
    // not Linux: own CPU only
  }
  return snapshot;
}

/** CPU used since `start`: this process and PostgreSQL in ms, and the rest of the machine in cores. */
function cpuSince(start: CpuSnapshot) {
  const end = cpuSnapshot();
  const seconds = (end.at - start.at) / 1_000;
  const ownMs = (end.own - start.own) / 1_000;
  const postgresMs = start.postgres !== undefined && end.postgres !== undefined ? (end.postgres - start.postgres) * 1_000 : undefined;
  const machineMs = start.machine !== undefined && end.machine !== undefined ? (end.machine - start.machine) * 1_000 : undefined;
  const childrenMs = start.children !== undefined && end.children !== undefined ? (end.children - start.children) * 1_000 : 0;
  const restCores = machineMs === undefined ? undefined : Math.max(0, machineMs - ownMs - childrenMs - (postgresMs ?? 0)) / 1_000 / seconds;
  return { ownMs, postgresMs, restCores, seconds };
}

const cores = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));

// ---------------------------------------------------------------------------------------------------
// The run

async function settings(db: Db): Promise<string> {
  const show = async (name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  return `server ${await show('server_version')}, fsync ${await show('fsync')}, synchronous_commit ${await show('synchronous_commit')}, full_page_writes ${await show('full_page_writes')}`;
}

export async function main(): Promise<void> {
  const began = performance.now();
  const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const previousAppName = process.env.PGAPPNAME;
  process.env.PGAPPNAME = APP_NAME; // pg reads it for every connection this process (and its children) opens
  console.log(`Environment: ${environmentLine()}`);

  const turns = new Table(
    'Brain overhead per turn',
    `one session at a time loops ${LOOP_TOOL_CALLS} turns (model call → agent.tool_use → 1 KB tool result → next call) on a whole in-process server with a 0-ms model; ` +
      `a turn's time is the interval between two consecutive model calls; windows of ${WINDOW} turns after 10, 100 and 500 prior turns, ` +
      `pooled over ${LOOP_SESSIONS} sessions (${LOOP_SESSIONS * WINDOW} samples each) after a ${WARMUP_TOOL_CALLS}-turn warm-up session. ` +
      `Statements: every db.query of the process (brain, log, leases, API, scheduler polls) ÷ turns; CPU: this process's user + system time ÷ turns.`,
  );
  const wal = new Table(
    'PostgreSQL WAL per turn',
    `one more looping session; pg_current_wal_lsn() read before the model answers the first and the last call of each ${WINDOW}-turn window, ` +
      `pg_wal_lsn_diff ÷ ${WINDOW}. The LSN is cluster-wide: "other connections" counts client backends not of this run (connected/active) at the window's start and end, ` +
      `and pg_walinspect splits the window's records into this run's schema (its tables and indexes, and its transactions' commit records), ` +
      `commit records of transactions that wrote no table (pg_notify gives a transaction an xid), and everything else.`,
  );
  const resume = new Table(
    'Resume',
    `a session with ≥ ${RESUME_EVENTS} events (a looping turn, then short ones), idle; a user message is sent to a server running no brains; ` +
      `warm: a new Brain instance in this process (which already ran brains) calls wake(sessionId), time to the model's first call, ${WARM_RESUMES} times after 1 unrecorded; ` +
      `fresh: \`node --import tsx bench/brain-resume.ts\` is spawned (PGlite: after this process closed the database) and opens the database and session log and calls wake; ` +
      `${FRESH_RESUMES} spawns, median [min–max].`,
  );
  const first = new Table(
    'send → first agent event',
    `whole in-process server, 0-ms model answering end_turn text; per sample a new session, an SDK event stream opened on it, then events.send of one user message, ` +
      `timed from just before send to the stream yielding the first agent.* event (agent.message); ${FIRST_EVENT_SESSIONS} sessions one after another after ${FIRST_EVENT_WARMUP} unrecorded.`,
  );
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
        const result = await measureTurns(server, model, ids, name);
        for (const position of POSITIONS) {
          const at = result.byPosition.get(position)!;
          turns.record(`turn overhead after ${position} prior turns: p50 / p99 (ms)`, name, pair(at), { target: TARGETS.turnP50, value: at.p50 });
        }
        const p50s = POSITIONS.map((position) => result.byPosition.get(position)!.p50);
        const growth = p50s.at(-1)! / p50s[0]!;
        turns.record('p50 after 500 ÷ p50 after 10', name, `${growth.toFixed(2)}×`, { target: TARGETS.flat, value: growth });
        for (const position of POSITIONS) {
          const at = result.byPosition.get(position)!;
          turns.record(`after ${position}: SQL statements per turn; CPU of this process per turn (ms)`, name, `${at.statements.toFixed(1)}; ${ms(at.cpuMs)}`);
        }
        for (const position of POSITIONS) {
          const cost = result.requests.get(position)!;
          turns.record(
            `after ${position}, context: request rebuilt from the whole log (buildRequest + referencedFiles), alone: p50 (ms)`,
            name,
            ms(cost.buildP50),
          );
        }
        for (const position of POSITIONS) {
          const cost = result.requests.get(position)!;
          turns.record(
            `after ${position}, context: request size as JSON (KiB); JSON.stringify p50 (ms), paid by a real model client, not by this 0-ms model`,
            name,
            `${integer(cost.bytes / 1024)}; ${ms(cost.stringifyP50)}`,
          );
        }
        turns.record(
          'CPU per turn over all looping sessions: this process; PostgreSQL server processes (ms)',
          name,
          `${ms(result.cpu.ownMs)}; ${result.cpu.postgresMs === undefined ? '?' : ms(result.cpu.postgresMs)}`,
        );
        turns.record('rest of the machine during the looping sessions (cores of 2; a large value means a disturbed run)', name, cores(result.cpu.restCores));
        const eventsPerTurn = result.events / (result.turns + 1);
        notes.push(`${name}: a looping session ends with ${integer(result.events)} events after ${result.turns} turns (~${eventsPerTurn.toFixed(1)} per turn)`);

        // 2. WAL per turn
        if (name === 'PostgreSQL') {
          monitor = new pg.Client({ connectionString: url, application_name: APP_NAME });
          await monitor.connect();
          const inspect = await walinspect(monitor, storage.schema!);
          const windows = await measureWal(server, model, ids, monitor);
          const perTurn = windows.map((window) => window.bytes / WINDOW);
          for (const [index, window] of windows.entries()) {
            const value = perTurn[index]!;
            wal.record(`WAL per turn after ${window.position} prior turns (LSN diff ÷ ${WINDOW})`, name, bytes(value), { target: TARGETS.walPerTurn, value });
            wal.record(`after ${window.position}: other connections (connected/active), start → end`, name, window.others);
            if (inspect) {
              const breakdown = await walBreakdown(monitor, inspect, storage.schema!, window);
              const perTurnOf = (value: number) => integer(value / WINDOW);
              wal.record(
                `after ${window.position}, per turn: records of this run's tables and their commits; commits writing no table (pg_notify); anything else; of all these, full-page images`,
                name,
                `${perTurnOf(breakdown.ours)} B; ${perTurnOf(breakdown.tableless)} B; ${perTurnOf(breakdown.others)} B; ${perTurnOf(breakdown.fpi)} B`,
              );
              notes.push(
                `WAL after ${window.position} prior turns, per turn by part: ` +
                  breakdown.parts.map(([part, size]) => `${part} ${integer(size / WINDOW)} B`).join(', ') +
                  ` (${breakdown.records} records in ${WINDOW} turns; record bytes exclude page headers and alignment, so they sum to a little less than the LSN diff)`,
              );
            }
          }
          const spread = Math.max(...perTurn) / Math.min(...perTurn);
          wal.record('largest ÷ smallest of the three', name, `${spread.toFixed(2)}×`, { target: TARGETS.walConstant, value: spread });
          process.stderr.write(`  ${name}: WAL done\n`);
        }

        // 4. send → first agent event (same server)
        const firstEvent = await measureFirstEvent(server, model, ids, name);
        first.record('send → first agent.* event on the stream: p50 / p99 (ms)', name, pair(firstEvent.firstEvent), {
          target: TARGETS.firstEventP50,
          value: firstEvent.firstEvent.p50,
        });
        first.record('send → model called (context): p50 / p99 (ms)', name, pair(firstEvent.modelCall));
        first.record('send → send resolved (context): p50 / p99 (ms)', name, pair(firstEvent.send));
        process.stderr.write(`  ${name}: send → first event done\n`);

        await server.oma.stop();

        // 3. Resume, on its own storage and a server without brains
        resumeStorage = await createStorage(name, url);
        const resumed = await measureResume(resumeStorage, eventsPerTurn);
        resume.record('events in the session', name, integer(resumed.events));
        resume.record('warm: new Brain, wake → first model call: p50 / max (ms)', name, `${ms(resumed.warm.p50)} / ${ms(resumed.warm.max)}`, {
          target: TARGETS.resumeWarm,
          value: resumed.warm.p50,
        });
        const spreadOf = (pick: (timings: ResumeTimings) => number) => {
          const values = resumed.fresh.map(pick).sort((a, b) => a - b);
          return { median: values[Math.floor(values.length / 2)]!, text: `${ms(values[Math.floor(values.length / 2)]!)} [${ms(values[0]!)}–${ms(values.at(-1)!)}]` };
        };
        const spawned = spreadOf((timings) => timings.spawnToFirstCall);
        resume.record('fresh process: spawn → first model call (ms)', name, spawned.text, { target: TARGETS.resumeFresh, value: spawned.median });
        resume.record('fresh process: Node start → first model call (ms)', name, spreadOf((timings) => timings.processStartToFirstCall).text);
        resume.record('fresh process: imports done → first model call (ms)', name, spreadOf((timings) => timings.processStartToFirstCall - timings.processStartToScript - timings.imports).text);
        resume.record(
          'fresh process, parts: Node + tsx start; importing oma; openDb + log; wake → first call (ms)',
          name,
          [
            spreadOf((timings) => timings.processStartToScript).median,
            spreadOf((timings) => timings.imports).median,
            spreadOf((timings) => timings.openDb).median,
            spreadOf((timings) => timings.wakeToFirstCall).median,
          ]
            .map(ms)
            .join('; '),
        );
        resume.record(`full read of the session's log (context): p50 (ms)`, name, ms(resumed.readP50));
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
