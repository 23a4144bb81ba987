import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import type Anthropic from '@anthropic-ai/sdk';
import type { AgentSnapshot } from '../brain/request.ts';
import type { RecordedSession } from '../context/replay.ts';
import type { ModelRequest } from '../model/interface.ts';
import type { StoredEvent } from '../session/interface.ts';
import { EchoSandboxProvider } from './echo-sandbox.ts';
import { createAgent, createEnvironment } from './fixtures.ts';
import { ScriptedModel, type ScriptStep } from './scripted-model.ts';
import { startTestOma } from './server.ts';

/**
 * Long sessions, recorded by running the real brain: a tool loop whose tool results vary in size,
 * with a new user message every `turnsPerMessage` model turns. Recorded under the `none` strategy
 * and a window too large to matter, so the log is the plain history that strategies are then
 * replayed on (context/replay.ts). Deterministic in shape; ids and times differ per recording.
 */

export interface LongSessionOptions {
  /** Model turns (requests) in all. */
  turns: number;
  /** A new user message after this many turns (default 50). */
  turnsPerMessage?: number;
  /** Tool result sizes, cycled (bytes; default a mix from 200 B to 12 KB). */
  outputBytes?: number[];
}

const DEFAULT_OUTPUTS = [400, 2_000, 200, 12_000, 800, 6_000, 300, 3_000];

/** The model's answer to the n-th request of a long session (0-based). */
export function longSessionStep(n: number, options: LongSessionOptions): ScriptStep {
  const perMessage = options.turnsPerMessage ?? 50;
  const outputs = options.outputBytes ?? DEFAULT_OUTPUTS;
  if ((n + 1) % perMessage === 0 || n === options.turns - 1) return { content: [{ type: 'text', text: `Done with part ${Math.floor(n / perMessage) + 1}.` }] };
  return {
    content: [
      { type: 'text', text: `Step ${n}: checking the next part of the build.` },
      { type: 'tool_use', name: 'bash', input: { command: `make step-${n}`, output_bytes: outputs[n % outputs.length]! } },
    ],
  };
}

/** Runs a long session through a test server (PGlite) and returns its agent and events. */
export async function recordLongSession(options: LongSessionOptions): Promise<RecordedSession> {
  let requests = 0;
  const model = new ScriptedModel((_request: ModelRequest) => longSessionStep(requests++, options));
  const oma = await startTestOma({ model, sandboxes: new EchoSandboxProvider(), config: { brain: { context: { strategy: 'none', window: 10_000_000, compactAt: 0.8 }, maxToolCallsPerTurn: 100_000 } as never } });
  try {
    const client: Anthropic = oma.client;
    const agent = await createAgent(client, { system: 'You are a build engineer.', tools: [{ type: 'agent_toolset_20260401' }] });
    const environment = await createEnvironment(client);
    const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
    const perMessage = options.turnsPerMessage ?? 50;
    for (let part = 0; part * perMessage < options.turns; part++) {
      await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: `Part ${part + 1}: build and check the next module.` }] }] });
      await waitUntil(() => requests >= Math.min(options.turns, (part + 1) * perMessage), 120_000);
      await waitForIdle(oma.sessionLog, session.id, part + 1);
    }
    const stored = await oma.db.query<{ agent: AgentSnapshot }>('SELECT agent FROM sessions WHERE id = $1', [session.id]);
    return { agent: stored.rows[0]!.agent, events: await oma.sessionLog.read(session.id) };
  } finally {
    await oma.dispose();
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('long session: timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function waitForIdle(log: { read(id: string): Promise<StoredEvent[]> }, sessionId: string, count: number) {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    const idles = (await log.read(sessionId)).filter((event) => event.type === 'session.status_idle').length;
    if (idles >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('long session: the turn did not end');
}

/** A recording as gzipped JSON lines: the agent, then one event per line. */
export function saveRecorded(file: string, session: RecordedSession) {
  const lines = [JSON.stringify({ agent: session.agent }), ...session.events.map((event) => JSON.stringify({ ...event, createdAt: event.createdAt.toISOString() }))];
  writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
}

export function loadRecorded(file: string): RecordedSession {
  const [header, ...lines] = gunzipSync(readFileSync(file)).toString('utf8').trim().split('\n');
  const events = lines.map((line) => {
    const event = JSON.parse(line) as StoredEvent & { createdAt: string };
    return { ...event, createdAt: new Date(event.createdAt) } as StoredEvent;
  });
  return { agent: (JSON.parse(header!) as { agent: AgentSnapshot }).agent, events };
}
