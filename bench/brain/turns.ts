/**
 * Turn overhead: one server (`startOma`: API, scheduler, brains), one session at a time looping
 * LOOP_TOOL_CALLS turns; intervals between consecutive model calls in windows of WINDOW turns
 * starting after 10, 100 and 500 prior turns, pooled over LOOP_SESSIONS sessions (after one
 * unrecorded warm-up session). With them: statements (every `db.query`) and CPU per turn (this
 * process, the PostgreSQL server, the rest of the machine, from /proc), and, for context, the
 * per-turn work that reads the whole history timed alone (`buildRequest`, and the request's JSON).
 */
import { performance } from 'node:perf_hooks';
import { buildRequest, referencedFiles, type AgentSnapshot } from '../../src/brain/request.ts';
import type { RunningOma } from '../../src/server.ts';
import { integer, ms, summarise } from '../lib/stats.ts';
import { cores, cpuSince, cpuSnapshot } from './cpu.ts';
import { BRAIN_OPTIONS, lastSeq, loopSession, type AgentIds, type BackendName, type Server } from './harness.ts';
import type { BenchModel, Call } from './model.ts';
import { pair, Table, TARGETS } from './table.ts';

/** Windows start after this many prior turns. */
export const POSITIONS = [10, 100, 500] as const;
/** Turns (intervals between model calls) per window. */
export const WINDOW = 30;
/** Tool-use answers per looping session: enough for the last window, plus one. */
export const LOOP_TOOL_CALLS = POSITIONS.at(-1)! + WINDOW + 1;
const LOOP_SESSIONS = 5;
const WARMUP_TOOL_CALLS = 100;

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

export async function measureTurns(server: Server, model: BenchModel, ids: AgentIds, name: BackendName): Promise<TurnResult> {
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

export const turnsTable = () =>
  new Table(
    'Brain overhead per turn',
    `one session at a time loops ${LOOP_TOOL_CALLS} turns (model call → agent.tool_use → 1 KB tool result → next call) on a whole in-process server with a 0-ms model; ` +
      `a turn's time is the interval between two consecutive model calls; windows of ${WINDOW} turns after 10, 100 and 500 prior turns, ` +
      `pooled over ${LOOP_SESSIONS} sessions (${LOOP_SESSIONS * WINDOW} samples each) after a ${WARMUP_TOOL_CALLS}-turn warm-up session. ` +
      `Statements: every db.query of the process (brain, log, leases, API, scheduler polls) ÷ turns; CPU: this process's user + system time ÷ turns.`,
  );

/** Puts `result` in the table and a note; returns the events per turn of a looping session. */
export function recordTurns(turns: Table, notes: string[], name: BackendName, result: TurnResult): number {
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
  return eventsPerTurn;
}
