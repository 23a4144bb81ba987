/**
 * Helper of the brain benchmark (bench/brain/resume.ts), not a benchmark of its own (bench/run.ts
 * only runs bench/brain/index.ts): the "resume from a fresh process" measure. bench/brain/resume.ts
 * spawns
 *
 *   node --import tsx bench/brain/resume-child.ts '<json arguments>'
 *
 * with a session whose wake is due (a user message was just sent, and no brain runs it). This process
 * does what a freshly started oma would before its first model call for that session: load oma's
 * code, open the database (`openDb`, which also checks migrations) and the session log, then
 * `Brain.wake(sessionId)`. Its model records when it is first called and answers `end_turn` text at
 * once, so the session goes idle again. It prints one JSON line of timings (ms) and exits.
 *
 * Only `node:` modules (and the bench's prebuilt stream events) are imported statically: oma's own modules are imported dynamically, so their
 * loading (and tsx compiling them) is timed.
 */
import { performance } from 'node:perf_hooks';
import { endTurn } from '../lib/stream-events.ts';
import type { Model, ModelStreamEvent } from '../../src/model/interface.ts';

/** What bench/brain/resume.ts passes (argv[2], JSON). */
export interface ResumeArguments {
  sessionId: string;
  /** PostgreSQL; unset for PGlite. */
  databaseUrl?: string;
  schema?: string;
  /** PGlite data directory (the parent closed it first: one process at a time). */
  dataDir?: string;
  /** `performance.timeOrigin + performance.now()` in the parent just before spawning (epoch ms). */
  spawnAt: number;
}

/** What this script prints (epoch-ms differences, so they compare across processes). */
export interface ResumeTimings {
  /** Parent's spawn call → first model call. */
  spawnToFirstCall: number;
  /** This process's `performance.timeOrigin` (Node's own start) → first model call. */
  processStartToFirstCall: number;
  /** Node start → this script's first line (Node and tsx starting up). */
  processStartToScript: number;
  /** Importing oma's modules (compiled by tsx). */
  imports: number;
  /** `openDb` (connect or load PGlite, check migrations) and `openSessionLog`. */
  openDb: number;
  /** `wake()` called → first model call. */
  wakeToFirstCall: number;
  /** All the brain's model calls in this process (1 expected). */
  modelCalls: number;
}

const scriptStart = performance.now();
const epoch = (at: number) => performance.timeOrigin + at;
const args = JSON.parse(process.argv[2] ?? '{}') as ResumeArguments;

const { Brain } = await import('../../src/brain/brain.ts');
const { openDb } = await import('../../src/db/index.ts');
const { openSessionLog } = await import('../../src/session/index.ts');
const { EchoSandboxProvider } = await import('../../src/testing/echo-sandbox.ts');
const importsDone = performance.now();

/** Records its calls; answers every one with a short `end_turn` text, at once. */
class EndTurnModel implements Model {
  readonly calls: number[] = [];

  stream(): AsyncIterable<ModelStreamEvent> {
    this.calls.push(performance.now());
    return answer();
  }
}

async function* answer(): AsyncGenerator<ModelStreamEvent> {
  yield* endTurn('resumed');
}

const opening = performance.now();
const db = await openDb({ databaseUrl: args.databaseUrl, dataDir: args.dataDir ?? '', schema: args.schema });
const log = await openSessionLog(db);
const opened = performance.now();

const model = new EndTurnModel();
const brain = new Brain({ db, log, model, sandboxes: new EchoSandboxProvider(), owner: `bench-resume:${process.pid}` });
const waking = performance.now();
let woke: boolean;
try {
  woke = await brain.wake(args.sessionId);
} finally {
  await log.close();
  await db.close();
}
const first = model.calls[0];
if (!woke || first === undefined) {
  console.error(`resume-child: ${woke ? 'the brain never called the model' : 'no due wake to claim'} for ${args.sessionId}`);
  process.exit(1);
}
const timings: ResumeTimings = {
  spawnToFirstCall: epoch(first) - args.spawnAt,
  processStartToFirstCall: first,
  processStartToScript: scriptStart,
  imports: importsDone - scriptStart,
  openDb: opened - opening,
  wakeToFirstCall: first - waking,
  modelCalls: model.calls.length,
};
console.log(JSON.stringify(timings));
