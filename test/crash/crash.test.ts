import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freshPgliteDir, freshPostgres, skipPostgres } from '../../src/testing/databases.ts';
import { runOmaToEnd, startOmaProcess, startOmaWorker, type OmaProcess } from '../../src/testing/processes.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { API_KEY, checkSession, crashClient, driveSession, persist, ResumingStream, startCrashModel, unfinished, type Tally } from './harness.ts';

/**
 * kill -9 anywhere. `npm run test:crash` runs the full sizes (CRASH_KILLS=50 …); the suite's default is
 * a shorter run that fits CI.
 */
const FULL = process.env.CRASH_FULL === '1';
const KILLS = Number(process.env.CRASH_KILLS ?? (FULL ? 50 : 5));
const SESSIONS = Number(process.env.CRASH_SESSIONS ?? (FULL ? 20 : 5));
const SESSIONS_PG = Number(process.env.CRASH_SESSIONS ?? (FULL ? 50 : 8));
const TURNS = Number(process.env.CRASH_TURNS ?? (FULL ? 5 : 3));
const TTL_MS = 1_500;
const TEST_TIMEOUT_MS = FULL ? 1_800_000 : 600_000;
/** PostgreSQL mode kills only workers that have run at least this long. */
const MIN_UPTIME_MS = 2_000;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves after `ms` unless cancelled: a test must not keep the process alive for its whole deadline. */
function deadline(ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { passed, cancel: () => clearTimeout(timer) };
}
const between = (low: number, high: number) => low + Math.floor(Math.random() * (high - low));
const emptyTally = (): Tally => ({ sessions: 0, turns: 0, events: 0, lost: 0, duplicates: 0, toolUses: 0, rerun: 0, interrupted: 0, reconnects: 0 });

/** Where a session was, as its stream last saw it, when a process was killed. */
function phase(received: ResumingStream['received']): string {
  for (let index = received.length - 1; index >= 0; index--) {
    const type = received[index]!.type;
    if (type === 'span.model_request_start') return 'model streaming';
    if (type === 'agent.tool_use') return 'tool running';
    if (type === 'agent.tool_result' || type === 'user.message') return 'between steps';
    if (type === 'session.status_idle') return 'idle';
  }
  return 'idle';
}

/**
 * Kill (`kill()` resolves once a victim is dead and its replacement is starting) `KILLS` times, every
 * `pauseMs` (300–1500 ms), while the sessions keep taking turns; then let them finish their last turn.
 * Tallies what the sessions were doing at each kill.
 */
async function killRepeatedly(run: Awaited<ReturnType<typeof startSessions>>, kill: () => Promise<void>, pauseMs: [number, number] = [300, 1_500]) {
  let finished = false;
  const allDone = Promise.all(run.sessions.map((session) => session.driven)).then(() => (finished = true));
  const phases = new Map<string, number>();
  for (let kills = 0; kills < KILLS; kills++) {
    await sleep(between(...pauseMs));
    for (const session of run.sessions) {
      const at = phase(session.stream.received);
      phases.set(at, (phases.get(at) ?? 0) + 1);
    }
    await kill();
  }
  run.killing.on = false;
  const limit = deadline(240_000);
  await Promise.race([allDone, limit.passed]);
  limit.cancel();
  return { kills: KILLS, finished, phases: [...phases].map(([at, count]) => `${at} ${count}`).join(', ') };
}

/** Create the sessions and start their drivers and resuming streams. */
async function startSessions(client: ReturnType<typeof crashClient>, url: () => string, run: string, count = SESSIONS) {
  const agent = await persist(() => client.beta.agents.create({ name: 'crash', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] }));
  const environment = await persist(() => client.beta.environments.create({ name: `crash ${run}` }));
  const stop = new AbortController();
  const killing = { on: true };
  const sessions = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const session = await persist(() => client.beta.sessions.create({ agent: agent.id, environment_id: environment.id }));
      const tag = `${run}${index}`;
      const stream = new ResumingStream(url, session.id);
      await sleep(50); // the stream is open before the first send
      return { id: session.id, tag, stream, driven: driveSession(client, session.id, tag, TURNS, () => killing.on, stop.signal) };
    }),
  );
  return { sessions, stop, killing };
}

describe('crash: kill -9 anywhere', { skip: bwrapMissing() }, () => {
  it('[CRASH-5] embedded: oma serve killed with SIGKILL at random points and restarted loses and repeats nothing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const model = await startCrashModel();
    cleanups.push(() => model.close());
    const dir = await freshPgliteDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { OMA_DATA_DIR: dir, PORT: String(port), OMA_API_KEY: API_KEY, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'fake', OMA_LEASE_TTL_MS: String(TTL_MS), OMA_MODEL_RETRY_BASE_MS: '50', OMA_RATE_LIMIT_CREATE: '0', OMA_RATE_LIMIT_READ: '0' };
    let server: OmaProcess = await startOmaProcess(env, 60_000);
    cleanups.push(() => void server.child.kill('SIGKILL'));
    const client = crashClient(() => url);
    const run = await startSessions(client, () => url, 'e');
    const { sessions, stop } = run;
    const restarts: number[] = [];
    const { kills, finished, phases } = await killRepeatedly(run, async () => {
      server.child.kill('SIGKILL');
      await server.exited;
      const began = Date.now();
      server = await startOmaProcess(env, 60_000);
      restarts.push(Date.now() - began);
    }, [300, 4_000]); // up to 4 s of life: long enough, often, for a tool call to finish before the next kill
    stop.abort();
    if (!finished) assert.fail(`sessions that did not reach their end:\n${await unfinished(client, sessions)}`);
    const tally = emptyTally();
    for (const session of sessions) await checkSession(client, join(dir, 'workspaces'), session.id, session.tag, TURNS, session.stream, tally);
    t.diagnostic(`embedded: 1 run, ${kills} kills, ${tally.sessions} sessions, ${tally.turns} turns, ${tally.events} events, ${tally.toolUses} tool uses (${tally.interrupted} reported cut off by a restart), lost events ${tally.lost}, duplicates ${tally.duplicates}, side effects run twice ${tally.rerun}, stream reconnects ${tally.reconnects}; sessions at the kills: ${phases}; restart to listening p50 ${restarts.sort((a, b) => a - b)[restarts.length >> 1]} ms, max ${restarts.at(-1)} ms`);
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('[CRASH-6] PostgreSQL: workers killed with SIGKILL repeatedly while sessions run lose and repeat nothing', { skip: skipPostgres, timeout: TEST_TIMEOUT_MS }, async (t) => {
    const model = await startCrashModel();
    cleanups.push(() => model.close());
    const database = freshPostgres({ prefix: 'oma_crash' });
    cleanups.push(() => database.drop());
    const dir = mkdtempSync(join(tmpdir(), 'oma-crash-pg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      DATABASE_URL: database.url,
      OMA_DB_SCHEMA: database.schema,
      OMA_DATA_DIR: dir,
      OMA_API_KEY: API_KEY,
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'fake',
      OMA_LEASE_TTL_MS: String(TTL_MS),
      OMA_MODEL_RETRY_BASE_MS: '50',
      OMA_RATE_LIMIT_CREATE: '0',
      OMA_RATE_LIMIT_READ: '0',
    };
    const api = await startOmaProcess({ ...env, OMA_BRAINS: '0' }, 60_000);
    cleanups.push(() => void api.child.kill('SIGKILL'));
    const started: OmaProcess[] = [];
    const since = new Map<OmaProcess, number>();
    const startWorker = () => startOmaWorker({ ...env, OMA_BRAINS: '8' }).then((worker) => (started.push(worker), since.set(worker, Date.now()), worker));
    const workers: (OmaProcess | undefined)[] = await Promise.all([startWorker(), startWorker(), startWorker()]);
    cleanups.push(() => workers.forEach((worker) => worker?.child.kill('SIGKILL')));
    const client = crashClient(() => api.url);
    const run = await startSessions(client, () => api.url, 'p', SESSIONS_PG);
    const { sessions, stop } = run;
    // A victim's replacement starts in the background: the next kill may come before it runs.
    const starting = new Set<Promise<void>>();
    // A victim is a worker that has been running brains for a while: killing workers faster than they
    // start would only show that sessions end in retries_exhausted when every brain dies (CRASH-1).
    const { kills, finished, phases } = await killRepeatedly(run, async () => {
      const seasoned = () => workers.flatMap((worker, index) => (worker && Date.now() - since.get(worker)! >= MIN_UPTIME_MS ? [index] : []));
      while (seasoned().length === 0) await sleep(25);
      const alive = seasoned();
      const victim = alive[between(0, alive.length)]!;
      const worker = workers[victim]!;
      workers[victim] = undefined;
      worker.child.kill('SIGKILL');
      await worker.exited;
      const replacement = startWorker().then((started) => void (workers[victim] = started));
      starting.add(replacement);
      void replacement.finally(() => starting.delete(replacement));
    });
    await Promise.all(starting);
    stop.abort();
    if (!finished) {
      const left = await unfinished(client, sessions);
      const ids = [...left.matchAll(/sesn_\w+/g)].map((match) => match[0]);
      const said = started.flatMap((worker, index) => `${worker.stdout()}${worker.stderr()}`.split('\n').filter((line) => ids.some((id) => line.includes(id)) || /"level":(50|60)|Error|nhandled|ncaught/.test(line)).map((line) => `worker ${index}: ${line.slice(0, 600)}`));
      assert.fail(`sessions that did not reach their end:\n${left}\nwhat the workers said of them:\n${said.slice(-60).join('\n')}`);
    }
    const tally = emptyTally();
    for (const session of sessions) await checkSession(client, join(dir, 'workspaces'), session.id, session.tag, TURNS, session.stream, tally);
    const db = await database.open();
    try {
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM (SELECT session_id, seq FROM events GROUP BY session_id, seq HAVING count(*) > 1) twice');
      assert.equal(Number(rows[0]!.n), 0, 'no seq twice');
    } finally {
      await db.close();
    }
    t.diagnostic(`postgres: 1 run, 3 workers, ${kills} kills, ${tally.sessions} sessions, ${tally.turns} turns, ${tally.events} events, ${tally.toolUses} tool uses (${tally.interrupted} reported cut off by a restart), lost events ${tally.lost}, duplicates ${tally.duplicates}, side effects run twice ${tally.rerun}, stream reconnects ${tally.reconnects}; sessions at the kills: ${phases}`);
    const drained = await Promise.all(workers.map(async (worker) => (worker!.child.kill('SIGTERM'), worker!.exited)));
    assert.deepEqual(drained, [0, 0, 0], 'SIGTERM drains and exits 0');
  });

  it('[CRASH-3] oma worker refuses embedded PGlite with a clear message', async () => {
    const result = await runOmaToEnd(['worker'], { OMA_DATA_DIR: join(tmpdir(), 'oma-worker-never') });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /oma worker needs DATABASE_URL/);
  });
});
