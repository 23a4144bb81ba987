/**
 * Resume: a session with ≥ RESUME_EVENTS events, idle; then a user message is sent on a server
 * running no brains, and (warm) a fresh `Brain` in this already warm process calls `wake`; or
 * (fresh) bench/brain/resume-child.ts is spawned to open the database and call `wake`. Time to the
 * first model call.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Brain } from '../../src/brain/brain.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { integer, ms, percentile, summarise } from '../lib/stats.ts';
import { BRAIN_OPTIONS, lastSeq, logger, newAgent, startServer, tail, type BackendName, type Server, type Storage } from './harness.ts';
import { BenchModel, prompt, userText } from './model.ts';
import type { ResumeArguments, ResumeTimings } from './resume-child.ts';
import { Table, TARGETS } from './table.ts';

const RESUME_EVENTS = 1_000;
const WARM_RESUMES = 10;
const FRESH_RESUMES = 5;

interface ResumeResult {
  events: number;
  warm: { p50: number; p99: number; count: number; max: number };
  /** Full read of the session's log, for scale. */
  readP50: number;
  fresh: ResumeTimings[];
}

/** Resume: a ≥ RESUME_EVENTS-event session woken by a fresh `Brain` here (warm), then by a fresh process. */
export async function measureResume(storage: Storage, eventsPerTurn: number): Promise<ResumeResult> {
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

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'resume-child.ts');
/** The repository's root, the child's working directory. */
const ROOT = dirname(dirname(here));

function resumeInFreshProcess(args: Omit<ResumeArguments, 'spawnAt'>): Promise<ResumeTimings> {
  return new Promise((resolve, reject) => {
    const spawnAt = performance.timeOrigin + performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ ...args, spawnAt })], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench/brain/resume-child.ts exited with ${code}: ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as ResumeTimings);
      } catch {
        reject(new Error(`bench/brain/resume-child.ts printed no timings: ${stdout.trim()} ${stderr.trim()}`));
      }
    });
  });
}

export const resumeTable = () =>
  new Table(
    'Resume',
    `a session with ≥ ${RESUME_EVENTS} events (a looping turn, then short ones), idle; a user message is sent to a server running no brains; ` +
      `warm: a new Brain instance in this process (which already ran brains) calls wake(sessionId), time to the model's first call, ${WARM_RESUMES} times after 1 unrecorded; ` +
      `fresh: \`node --import tsx bench/brain/resume-child.ts\` is spawned (PGlite: after this process closed the database) and opens the database and session log and calls wake; ` +
      `${FRESH_RESUMES} spawns, median [min–max].`,
  );

export function recordResume(resume: Table, name: BackendName, resumed: ResumeResult) {
  resume.record('events in the session', name, integer(resumed.events));
  resume.record('warm: new Brain, wake → first model call: p50 / max (ms)', name, `${ms(resumed.warm.p50)} / ${ms(resumed.warm.max)}`, {
    target: TARGETS.resumeWarm,
    value: resumed.warm.p50,
  });
  const spreadOf = (pick: (timings: ResumeTimings) => number) => {
    const values = resumed.fresh.map(pick).sort((a, b) => a - b);
    const median = percentile(values, 50);
    return { median, text: `${ms(median)} [${ms(values[0]!)}–${ms(values.at(-1)!)}]` };
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
}
