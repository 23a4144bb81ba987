import type Anthropic from '@anthropic-ai/sdk';
import { performance } from 'node:perf_hooks';
import type { ScaleModel } from './model.ts';

/**
 * The client side: sessions driven through the official SDK against `oma serve`, `concurrency` of
 * them in flight at once. Each session is created, opens its event stream, then runs its turns one
 * after another: `events.send` of a user message whose text is the turn's tag, then reads the stream
 * until `session.status_idle`. Times kept per turn: the send's round trip, send → idle seen, and the
 * moment the send returned (matched with when the model saw the tag: the wake latency).
 */

const TURN_TIMEOUT_MS = 60_000;

export interface Ids {
  agent: string;
  environment: string;
}

export interface DriveOptions {
  /** Tag prefix, unique per measure (a column and a phase). */
  prefix: string;
  sessions: number;
  turns: number;
  concurrency: number;
  /** Wait this long after each turn's idle before the next send (the idle-system measure). */
  pauseMs?: number;
}

export interface DriveResult {
  seconds: number;
  sessionsDone: number;
  turnsDone: number;
  /** events.send round trip, ms. */
  sendRoundTrip: number[];
  /** send started → idle seen on the stream, ms. */
  turnTime: number[];
  /** events.send returned → the model saw that turn's request, ms (negative: the model saw it first). */
  wake: number[];
  /** events.send started → the model saw that turn's request, ms. */
  wakeFromStart: number[];
  /** Turns whose request the model never saw. */
  unseen: number;
  errors: string[];
}

export async function newIds(client: Anthropic): Promise<Ids> {
  const agent = await client.beta.agents.create({ name: 'scale bench', model: 'claude-sonnet-4-6' });
  const environment = await client.beta.environments.create({ name: `scale bench ${Date.now()}` });
  return { agent: agent.id, environment: environment.id };
}

export async function drive(client: Anthropic, ids: Ids, model: ScaleModel, options: DriveOptions): Promise<DriveResult> {
  const sent = new Map<string, { start: number; returned: number }>();
  const result: DriveResult = { seconds: 0, sessionsDone: 0, turnsDone: 0, sendRoundTrip: [], turnTime: [], wake: [], wakeFromStart: [], unseen: 0, errors: [] };
  let next = 0;

  async function oneSession(index: number) {
    const session = await client.beta.sessions.create({ agent: ids.agent, environment_id: ids.environment });
    const stream = await client.beta.sessions.events.stream(session.id);
    const events = stream[Symbol.asyncIterator]();
    try {
      for (let turn = 0; turn < options.turns; turn++) {
        const tag = `${options.prefix} s${index} t${turn}`;
        const start = performance.now();
        await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: tag }] }] });
        const returned = performance.now();
        sent.set(tag, { start, returned });
        result.sendRoundTrip.push(returned - start);
        const idle = await untilIdle(events, `${session.id} (${tag})`);
        result.turnTime.push(performance.now() - start);
        if (idle.stop_reason?.type !== 'end_turn') result.errors.push(`${tag}: the turn ended with ${JSON.stringify(idle.stop_reason)}`);
        result.turnsDone++;
        if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      }
      result.sessionsDone++;
    } finally {
      stream.controller.abort();
    }
  }

  const began = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, options.sessions) }, async () => {
      while (next < options.sessions) {
        const index = next++;
        await oneSession(index).catch((error) => result.errors.push(`session ${index}: ${(error as Error).message}`));
      }
    }),
  );
  result.seconds = (performance.now() - began) / 1_000;
  for (const [tag, { start, returned }] of sent) {
    const seen = model.seen.get(tag);
    if (seen === undefined) {
      result.unseen++;
    } else {
      result.wake.push(seen - returned);
      result.wakeFromStart.push(seen - start);
    }
  }
  return result;
}

type StreamEvent = { type: string; stop_reason?: { type: string } | null };

async function untilIdle(events: AsyncIterator<StreamEvent>, what: string): Promise<StreamEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no session.status_idle within ${TURN_TIMEOUT_MS} ms on ${what}`)), TURN_TIMEOUT_MS);
  });
  try {
    for (;;) {
      const next = await Promise.race([events.next(), timeout]);
      if (next.done) throw new Error(`the event stream of ${what} ended before session.status_idle`);
      if (next.value.type === 'session.status_idle') return next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}
