/**
 * Time to first token, lazy against eager provisioning, for an environment whose setup takes
 * 1.5–2.5 s (uniform; `SetupStepProvider`: a `sleep` run inside each new sandbox before it is handed
 * out, standing for package installs; drawn per session number, so session i's setup takes as
 * long in both modes).
 *
 * One whole in-process server per mode (`startOma`: HTTP API, session log, scheduler, brains), each
 * on its own fresh database, with the bench-local 0-ms `HandsModel`, and as sandboxes a
 * `SandboxPool` over `SetupStepProvider` over the real bubblewrap provider — what
 * `openSandboxProvider('bubblewrap')` builds, with the setup step slipped in under the pool.
 *
 * - lazy: oma as it is. The brain's `ToolRouter` provisions on the first tool call of a wake.
 * - eager (emulated): the same server, but the model's `beforeFirstCall` hook provisions the
 *   session's sandbox through the same pool, and only then is the session's first model call
 *   answered; the handle is released at once, so the pool keeps the sandbox and the first tool
 *   call finds it ready. So the first wake of every session waits for a ready sandbox before the
 *   model's first token, as in an architecture that provisions at session start. The wait begins
 *   when the brain calls the model (it has claimed the wake, read the log, appended
 *   `session.status_running` and built the request: ~10 ms after the send here), not when the
 *   session was created; an eager design that starts at session creation could hide part of the
 *   setup behind the client's own gap between creating a session and sending to it, which is ~0 in
 *   this benchmark (it sends right after creating).
 *
 * Per mode: 20 unrecorded sessions, then 200 recorded, 20 at a time (each a worker looping: create a
 * session, open an SDK event stream, send one user message, wait for `session.status_idle`; the
 * workers start 10 ms apart, so that the first wave is not 20 sends in one instant). Session
 * i uses a tool when i is odd: half only chat. TTFT is from just before `events.send` to the stream
 * yielding the first `agent.*` event (always `agent.message`, see model.ts).
 */
import Anthropic from '@anthropic-ai/sdk';
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config.ts';
import type { SandboxRecipe } from '../../src/sandbox/interface.ts';
import { SandboxPool } from '../../src/sandbox/pool.ts';
import { startOma } from '../../src/server.ts';
import { freshPgliteDir, freshPostgres } from '../../src/testing/databases.ts';
import { integer, ms } from '../lib/stats.ts';
import { CORES_LEGEND, coresSince, coresText, cpuSnapshot, type CoresUsed } from '../lib/cpu.ts';
import { handsPrompt, HandsModel } from './model.ts';
import { openProvider, SetupStepProvider, StallMonitor, type ProviderName } from './sandboxes.ts';
import { change, percent, summarise, Table, TARGETS, type Summary } from './table.ts';

export const TTFT_SESSIONS = 200;
const TTFT_WARMUP = 20;
export const TTFT_CONCURRENCY = 20;
/** Worker k starts its first session k × this late, so the first wave does not arrive in one instant. */
const STAGGER_MS = 10;
/** Sessions the scheduler runs at once: above the concurrency, so wakes never queue for a brain. */
export const TTFT_BRAINS = 32;
export const SETUP = { minMs: 1_500, maxMs: 2_500, seed: 20_261_125 };
const SESSION_TIMEOUT_MS = 60_000;
const API_KEY = 'sk-oma-bench-hands-key-0123456789';

export type Mode = 'lazy' | 'eager';
export const MODE_COLUMN: Record<Mode, string> = { lazy: 'lazy (oma)', eager: 'eager (emulated)' };

/** Brain failures are logged (to stderr) rather than lost. */
const logger = pino({ level: 'warn' }, pino.destination(2));

export interface Storage {
  name: 'PostgreSQL' | 'PGlite';
  config: Partial<Config>;
  remove(): Promise<void>;
}

export async function createStorage(name: Storage['name'], url: string): Promise<Storage> {
  if (name === 'PGlite') {
    const dir = await freshPgliteDir();
    return { name, config: { dataDir: dir }, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const postgres = freshPostgres({ url, prefix: 'oma_bench_hands' });
  return { name, config: { databaseUrl: url, databaseSchema: postgres.schema }, remove: postgres.drop };
}

interface Sample {
  usesTool: boolean;
  /** From just before send, ms. */
  ttft: number;
  modelCalled: number;
  toolResult?: number;
  idle: number;
}

export interface TtftResult {
  samples: Sample[];
  /** Sandboxes provisioned for the recorded sessions, and their provisions (setup drawn, whole provision incl. setup). */
  provisioned: number;
  setup: Summary;
  provision: Summary;
  wallSeconds: number;
  cores: CoresUsed;
  /** Event loop over the recorded sessions: p99 of its 1 ms monitor's intervals and the longest, less the 1 ms (ms). */
  loopP99: number;
  loopMax: number;
  /** Sandboxes in the pool at the end; closing the pool (disposing them all at once), and its longest event-loop stall. */
  pooled: number;
  poolCloseMs: number;
  poolCloseStallMs: number;
}

export async function measureTtft(mode: Mode, storage: Storage, sandbox: ProviderName, root: string): Promise<TtftResult> {
  /** Session id → its number in the benchmark (warm-up sessions after the recorded ones), which keys its setup time. */
  const numbers = new Map<string, number>();
  const setupProvider = new SetupStepProvider(openProvider(sandbox, root), SETUP, (recipe) => numbers.get(recipe.sessionId) ?? -1);
  const pool = new SandboxPool(setupProvider, { idleMs: loadConfig({}).sandboxes.idleMs });
  const recipes = new Map<string, SandboxRecipe>();
  const model = new HandsModel(
    mode === 'eager'
      ? {
          async beforeFirstCall(sessionId) {
            const recipe = recipes.get(sessionId);
            if (!recipe) throw new Error(`no recipe for ${sessionId}`);
            const handle = await pool.provision(recipe);
            await handle.dispose(); // released: the pool keeps it for the session's tool calls
          },
        }
      : {},
  );
  const config = loadConfig({}, { port: 0, apiKey: API_KEY, rateLimits: { createPerMinute: 0, readPerMinute: 0 }, brains: TTFT_BRAINS, ...storage.config });
  const oma = await startOma(config, logger, { model, sandboxes: pool });
  let stopped = false;
  try {
    const client = new Anthropic({ baseURL: oma.url, apiKey: API_KEY, maxRetries: 0 });
    const agent = await client.beta.agents.create({ name: 'hands bench agent', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
    const environment = await client.beta.environments.create({ name: `hands bench ${mode} ${Math.random().toString(36).slice(2)}` });

    const runOne = (offset: number) => async (index: number): Promise<Sample & { sessionId: string }> => {
      const usesTool = index % 2 === 1;
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      numbers.set(session.id, offset + index);
      const { rows } = await oma.db.query<{ workspace_id: string }>('SELECT workspace_id FROM sessions WHERE id = $1', [session.id]);
      recipes.set(session.id, { sessionId: session.id, workspaceId: rows[0]!.workspace_id, environmentId: environment.id });
      const stream = await client.beta.sessions.events.stream(session.id);
      let first: { at: number; type: string } | undefined;
      let toolResult: { at: number; isError: boolean } | undefined;
      let idleAt: number | undefined;
      let running = false;
      const consumed = (async () => {
        for await (const event of stream) {
          const at = performance.now();
          if (!first && event.type.startsWith('agent.')) first = { at, type: event.type };
          if (event.type === 'agent.tool_result' && !toolResult) toolResult = { at, isError: event.is_error === true };
          if (event.type === 'session.status_running') running = true;
          if (event.type === 'session.status_idle' && running) {
            idleAt = at;
            break;
          }
        }
      })();
      const before = performance.now();
      try {
        await client.beta.sessions.events.send(session.id, { events: [handsPrompt(session.id, usesTool)] });
        await withTimeout(consumed, SESSION_TIMEOUT_MS, `session ${session.id} (${mode}, ${usesTool ? 'tool' : 'chat'}) did not go idle`);
      } finally {
        stream.controller.abort();
        await consumed.catch(() => {});
      }
      const modelCalledAt = model.calls.get(session.id)?.[0];
      if (!first || first.type !== 'agent.message' || idleAt === undefined || modelCalledAt === undefined) {
        throw new Error(`session ${session.id} (${mode}): first agent event ${first?.type ?? 'none'}, idle ${idleAt !== undefined}, model called ${modelCalledAt !== undefined}`);
      }
      if (usesTool !== (toolResult !== undefined) || toolResult?.isError) {
        throw new Error(`session ${session.id} (${mode}, ${usesTool ? 'tool' : 'chat'}): tool result ${JSON.stringify(toolResult)}`);
      }
      return {
        sessionId: session.id,
        usesTool,
        ttft: first.at - before,
        modelCalled: modelCalledAt - before,
        toolResult: toolResult && toolResult.at - before,
        idle: idleAt - before,
      };
    };

    await runAll(TTFT_WARMUP, TTFT_CONCURRENCY, runOne(TTFT_SESSIONS));
    const provisionsBefore = setupProvider.provisions.length;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const cpu = cpuSnapshot();
    const began = performance.now();
    const recorded = await runAll(TTFT_SESSIONS, TTFT_CONCURRENCY, runOne(0));
    const wallSeconds = (performance.now() - began) / 1_000;
    const cores = coresSince(cpu);
    loop.disable();
    const ours = new Set(recorded.map((sample) => sample.sessionId));
    const provisions = setupProvider.provisions.slice(provisionsBefore).filter((provision) => ours.has(provision.sessionId));

    // The pool first, alone (the server's stop would close it too, among other things).
    const pooled = pool.sessions().length;
    const monitor = new StallMonitor();
    await monitor.start();
    const closing = performance.now();
    await pool.close();
    const poolCloseMs = performance.now() - closing;
    const poolCloseStallMs = await monitor.stop();
    stopped = true;
    await oma.stop();
    return {
      samples: recorded,
      provisioned: provisions.length,
      setup: summarise(provisions.map((provision) => provision.setupMs)),
      provision: summarise(provisions.map((provision) => provision.totalMs)),
      wallSeconds,
      cores,
      loopP99: Math.max(0, loop.percentile(99) / 1e6 - 1),
      loopMax: Math.max(0, loop.max / 1e6 - 1),
      pooled,
      poolCloseMs,
      poolCloseStallMs,
    };
  } finally {
    if (!stopped) await oma.stop();
  }
}

/** Run `count` sessions, `concurrency` at a time; results in index order. */
async function runAll<T>(count: number, concurrency: number, run: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async (_, worker) => {
      await new Promise((resolve) => setTimeout(resolve, worker * STAGGER_MS));
      while (next < count) {
        const index = next++;
        results[index] = await run(index);
      }
    }),
  );
  return results;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs)));
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export const ttftTable = (storage: string, sandbox: string) =>
  new Table(
    'TTFT: lazy against eager provisioning',
    `one whole in-process server per mode on ${storage} (${TTFT_BRAINS} brains, rate limits off), 0-ms model, sandboxes: SandboxPool over a setup step ` +
      `(sleep uniform ${SETUP.minMs / 1_000}–${SETUP.maxMs / 1_000} s inside each new sandbox, seeded per session number: the same in both modes) over ${sandbox}. ${TTFT_SESSIONS} sessions per mode after ${TTFT_WARMUP} unrecorded, ` +
      `${TTFT_CONCURRENCY} at a time (the ${TTFT_CONCURRENCY} workers starting ${STAGGER_MS} ms apart), every other one calling bash (\`true\`) after a text block, the others chat only. TTFT: just before events.send → the SDK stream yields the first agent.* event ` +
      `(agent.message). lazy: oma as it is (provision on the first tool call). eager (emulated): the session's first model call waits until the pool has provisioned the session's sandbox ` +
      `(then reused by its tool call). change: eager → lazy.`,
    [MODE_COLUMN.lazy, MODE_COLUMN.eager, 'change'],
  );

const pair95 = (summary: Summary) => `${ms(summary.p50)} / ${ms(summary.p95)}`;

export function recordTtft(table: Table, results: Partial<Record<Mode, TtftResult>>) {
  const rows: { measure: string; pick: (samples: Sample[]) => number[] }[] = [
    { measure: `all ${TTFT_SESSIONS} sessions`, pick: (samples) => samples.map((sample) => sample.ttft) },
    { measure: 'chat-only half', pick: (samples) => samples.filter((sample) => !sample.usesTool).map((sample) => sample.ttft) },
    { measure: 'tool half', pick: (samples) => samples.filter((sample) => sample.usesTool).map((sample) => sample.ttft) },
  ];
  const lazy = results.lazy;
  const eager = results.eager;
  const modes = (['lazy', 'eager'] as const).filter((mode) => results[mode]);

  // The headline: p50 and p95 over all sessions, with the change checked against the reference's.
  const all = (mode: Mode) => summarise(rows[0]!.pick(results[mode]!.samples));
  for (const [label, key, target] of [
    ['p50', 'p50', TARGETS.ttftP50Change],
    ['p95', 'p95', TARGETS.ttftP95Change],
  ] as const) {
    const measure = `TTFT, all ${TTFT_SESSIONS} sessions: ${label} (ms)`;
    for (const mode of modes) table.record(measure, MODE_COLUMN[mode], ms(all(mode)[key]));
    if (lazy && eager) {
      const value = change(all('eager')[key], all('lazy')[key]);
      table.record(measure, 'change', percent(value), { target, value });
    }
  }

  const perMode = (measure: string, summaryOf: (result: TtftResult) => Summary | undefined, format = pair95) => {
    const summaries: Partial<Record<Mode, Summary>> = {};
    for (const mode of modes) {
      const summary = summaryOf(results[mode]!);
      summaries[mode] = summary;
      table.record(measure, MODE_COLUMN[mode], summary && summary.count > 0 ? format(summary) : 'n/a');
    }
    if (summaries.lazy?.count && summaries.eager?.count) {
      table.record(measure, 'change', `p50 ${percent(change(summaries.eager.p50, summaries.lazy.p50))}, p95 ${percent(change(summaries.eager.p95, summaries.lazy.p95))}`);
    }
  };
  for (const row of rows.slice(1)) perMode(`TTFT, ${row.measure}: p50 / p95 (ms)`, (result) => summarise(row.pick(result.samples)));
  perMode(`context: TTFT of sessions ${TTFT_CONCURRENCY + 1}–${TTFT_SESSIONS} (after the first wave of ${TTFT_CONCURRENCY}): p50 / p95 (ms)`, (result) =>
    summarise(result.samples.slice(TTFT_CONCURRENCY).map((sample) => sample.ttft)),
  );
  perMode('context, all: send → the model called (wake claimed, request built): p50 / p95 (ms)', (result) => summarise(result.samples.map((sample) => sample.modelCalled)));
  perMode('context, tool half: send → agent.tool_result: p50 / p95 (ms)', (result) => summarise(result.samples.flatMap((sample) => (sample.toolResult === undefined ? [] : [sample.toolResult]))));
  perMode('context, chat-only half: send → session idle (turn done): p50 / p95 (ms)', (result) => summarise(result.samples.filter((sample) => !sample.usesTool).map((sample) => sample.idle)));
  perMode('context, tool half: send → session idle (turn done): p50 / p95 (ms)', (result) => summarise(result.samples.filter((sample) => sample.usesTool).map((sample) => sample.idle)));
  for (const mode of modes) {
    const result = results[mode]!;
    const column = MODE_COLUMN[mode];
    table.record(`sandboxes provisioned for the ${TTFT_SESSIONS} sessions`, column, integer(result.provisioned));
    table.record('setup step drawn: p50 (ms); whole provision incl. setup: p50 / p95 (ms)', column, result.provisioned > 0 ? `${ms(result.setup.p50)}; ${pair95(result.provision)}` : 'n/a');
    table.record(`wall time of the ${TTFT_SESSIONS} sessions (s); ${CORES_LEGEND}`, column, `${result.wallSeconds.toFixed(1)}; ${coresText(result.cores)}`);
    table.record('event loop over the sessions: p99 interval; longest stall (ms, less the 1 ms monitor interval)', column, `${ms(result.loopP99)}; ${ms(result.loopMax)}`);
    table.record('at the end: sandboxes in the pool; pool.close() disposing them all (ms); its longest event-loop stall (ms)', column, `${result.pooled}; ${ms(result.poolCloseMs)}; ${ms(result.poolCloseStallMs)}`);
  }
}
