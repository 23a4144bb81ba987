/**
 * send → first `agent.*` event: sessions whose model answers `end_turn` text at once; an event
 * stream opened first, then `events.send` of a user message timed until the stream yields the first
 * `agent.*` event.
 */
import { performance } from 'node:perf_hooks';
import { summarise } from '../lib/stats.ts';
import { tail, withTimeout, type AgentIds, type BackendName, type Server } from './harness.ts';
import { prompt, type BenchModel } from './model.ts';
import { pair, Table, TARGETS } from './table.ts';

const FIRST_EVENT_SESSIONS = 50;
const FIRST_EVENT_WARMUP = 3;
const FIRST_EVENT_TIMEOUT_MS = 10_000;

interface FirstEventResult {
  /** send start → first `agent.*` event on the stream. */
  firstEvent: { p50: number; p99: number; count: number };
  /** send start → the model called (scheduler picked the wake up, brain built the request). */
  modelCall: { p50: number; p99: number };
  /** send start → send resolved. */
  send: { p50: number; p99: number };
}

export async function measureFirstEvent(server: Server, model: BenchModel, ids: AgentIds, name: BackendName): Promise<FirstEventResult> {
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

export const firstEventTable = () =>
  new Table(
    'send → first agent event',
    `whole in-process server, 0-ms model answering end_turn text; per sample a new session, an SDK event stream opened on it, then events.send of one user message, ` +
      `timed from just before send to the stream yielding the first agent.* event (agent.message); ${FIRST_EVENT_SESSIONS} sessions one after another after ${FIRST_EVENT_WARMUP} unrecorded.`,
  );

export function recordFirstEvent(first: Table, name: BackendName, result: FirstEventResult) {
  first.record('send → first agent.* event on the stream: p50 / p99 (ms)', name, pair(result.firstEvent), {
    target: TARGETS.firstEventP50,
    value: result.firstEvent.p50,
  });
  first.record('send → model called (context): p50 / p99 (ms)', name, pair(result.modelCall));
  first.record('send → send resolved (context): p50 / p99 (ms)', name, pair(result.send));
}
