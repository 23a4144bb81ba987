import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ModelRequest } from '../../src/model/interface.ts';
import { readWorkspaceFile } from '../../src/sandbox/index.ts';
import { startFakeModelServer, type FakeModelServer } from '../../src/testing/fake-model-server.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';

/**
 * Crash tests drive real oma processes that are killed with SIGKILL while sessions run. The model is a
 * scripted fake served from the test process, its answer a pure function of the request (so a model
 * call re-issued after a crash gets the same answer): each turn is one bash call with a side effect
 * (a line appended to /workspace/ledger, so a call run twice is seen) and then a closing text.
 */

export const TURNS_TEXT = (turn: number) => `Turn ${turn} done.`;

/** Requests are `[user, (assistant, user)*]`: the answers so far say which step comes next. */
function step(request: ModelRequest): ScriptStep {
  const answered = request.messages.filter((message) => message.role === 'assistant').length;
  const turn = Math.floor(answered / 2);
  const first = request.messages[0];
  const text = typeof first?.content === 'string' ? first.content : (first?.content.find((block) => block.type === 'text') as { text: string } | undefined)?.text ?? '';
  const session = /\[(\w+)\]/.exec(text)?.[1] ?? 'unknown';
  const delay = 100 + Math.floor(Math.random() * 200);
  if (answered % 2 === 0) {
    return { delay_ms: delay, content: [{ type: 'tool_use', name: 'bash', input: { command: `echo ${session}-t${turn} >> /workspace/ledger; sleep 0.${2 + Math.floor(Math.random() * 4)}; echo ran` } }] };
  }
  return { delay_ms: delay, content: [{ type: 'text', text: TURNS_TEXT(turn) }] };
}

export async function startCrashModel(): Promise<FakeModelServer> {
  return startFakeModelServer({ model: new ScriptedModel((request) => step(request)) });
}

export type Event = Record<string, any> & { id: string; type: string };

export const API_KEY = 'sk-oma-crash-test-admin-0123456789';

/** The official SDK with retries generous enough to ride out a restart. */
export function crashClient(url: () => string): Anthropic {
  return new Anthropic({ baseURL: 'http://unused', apiKey: API_KEY, maxRetries: 0, fetch: (input, init) => fetch(String(input).replace('http://unused', url()), init) });
}

/** Retry an API call across restarts (connection refused, reset, 5xx) for up to `ms`; the error then says how often and why. */
export async function persist<T>(run: () => Promise<T>, ms = 300_000): Promise<T> {
  const deadline = Date.now() + ms;
  const causes = new Map<string, number>();
  for (let tries = 1; ; tries++) {
    try {
      return await run();
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== undefined && status < 500) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = `${status ?? ''} ${cause?.code ?? cause?.message ?? (error as Error).message}`.trim();
      causes.set(why, (causes.get(why) ?? 0) + 1);
      if (Date.now() > deadline) throw new Error(`gave up after ${tries} tries in ${ms} ms: ${[...causes].map(([text, count]) => `${text} ×${count}`).join(', ')}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function listEvents(client: Anthropic, sessionId: string): Promise<Event[]> {
  return persist(async () => {
    const events: Event[] = [];
    for await (const event of client.beta.sessions.events.list(sessionId, { limit: 1000 })) events.push(event as Event);
    return events;
  });
}

/**
 * One session's client: sends turn after turn once the previous one ended — at least `minTurns`, and
 * more while `more()` (the kills go on) — deciding from the log (not from its own memory, nor by
 * retrying) whether a turn's message was already sent, so a send cut by a restart is never sent twice.
 */
export async function driveSession(client: Anthropic, sessionId: string, tag: string, minTurns: number, more: () => boolean, stop: AbortSignal): Promise<void> {
  while (!stop.aborted) {
    const events = await listEvents(client, sessionId);
    const sent = events.filter((event) => event.type === 'user.message').length;
    const quiet = events.length === 0 || (events.at(-1)?.type === 'session.status_idle' && events.at(-1)?.stop_reason?.type === 'end_turn');
    if (quiet && sent >= minTurns && !more()) return;
    if (quiet) {
      // Sent once: a send cut by a restart may or may not have landed, and only the log can say
      // (retrying it blindly is how a client would send a message twice).
      await client.beta.sessions.events.send(sessionId, { events: [{ type: 'user.message', content: [{ type: 'text', text: `[${tag}] turn ${sent}` }] }] }).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/**
 * An SSE reader that reconnects with `Last-Event-ID` whenever the connection drops (a restart): what it
 * received, by position (`id:`), so gaps and repeats can be checked.
 */
export class ResumingStream {
  readonly received: { seq: number; id: string; type: string }[] = [];
  /** Streams opened: the first, then one per resumption after a restart. */
  connections = 0;
  private readonly controller = new AbortController();
  readonly done: Promise<void>;

  constructor(
    private readonly url: () => string,
    private readonly sessionId: string,
  ) {
    this.done = this.run();
  }

  /** Read on until the event `id` arrived (or `ms` passed), then stop. */
  async finish(id: string, ms = 60_000) {
    for (const deadline = Date.now() + ms; !this.received.some((message) => message.id === id) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    this.controller.abort();
    await this.done;
  }

  private async run() {
    while (!this.controller.signal.aborted) {
      const last = this.received.at(-1)?.seq ?? 0; // from the very start: the first connection may open after the first send
      try {
        const response = await fetch(`${this.url()}/v1/sessions/${this.sessionId}/events/stream`, {
          headers: { 'x-api-key': API_KEY, 'anthropic-beta': 'managed-agents-2026-04-01', 'last-event-id': String(last) },
          signal: this.controller.signal,
        });
        if (!response.ok || !response.body) throw new Error(`stream: ${response.status}`);
        this.connections++;
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: (\d+)$/m.exec(message)?.[1];
            const data = /^data: (.*)$/m.exec(message)?.[1];
            if (id === undefined || data === undefined) continue; // pings and previews carry no position
            const event = JSON.parse(data) as Event;
            this.received.push({ seq: Number(id), id: event.id, type: event.type });
          }
        }
      } catch {
        // the server went away (or we stopped): reconnect from the last position
      }
      if (this.controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface Tally {
  sessions: number;
  turns: number;
  events: number;
  lost: number;
  duplicates: number;
  toolUses: number;
  rerun: number;
  interrupted: number;
  reconnects: number;
}

/**
 * Everything the crash suite guarantees, checked for one session: its scripted end, unique ids, one
 * result per tool use, no side effect twice, and a resuming stream that saw every event once.
 */
/** A session's log in one line (types, idle stop reasons, error messages): for failure messages. */
export function story(events: Event[]): string {
  return events.map((event) => (event.type === 'session.status_idle' ? `idle:${event.stop_reason?.type}` : event.type === 'session.error' ? `error:${event.error?.message}` : event.type)).join(' ');
}

/** The sessions that did not reach their end, with their logs: what a failed run needs to be understood. */
export async function unfinished(client: Anthropic, sessions: { id: string; tag: string }[]): Promise<string> {
  const lines: string[] = [];
  for (const session of sessions) {
    const events = await listEvents(client, session.id);
    const ended = events.at(-1)?.stop_reason?.type === 'end_turn';
    if (!ended) lines.push(`${session.tag} ${session.id}: ${story(events)}`);
  }
  return lines.join('\n');
}

export async function checkSession(client: Anthropic, workspaces: string, sessionId: string, tag: string, minTurns: number, stream: ResumingStream, tally: Tally) {
  const events = await listEvents(client, sessionId);
  tally.sessions++;
  tally.events += events.length;
  const ids = events.map((event) => event.id);
  const duplicateIds = ids.length - new Set(ids).size;
  tally.duplicates += duplicateIds;
  assert.equal(duplicateIds, 0, `${tag}: an event id twice`);
  const texts = events.filter((event) => event.type === 'agent.message').map((event) => event.content[0].text);
  const turns = events.filter((event) => event.type === 'user.message').length;
  assert.ok(turns >= minTurns, `${tag}: ${turns} turns`);
  tally.turns += turns;
  assert.deepEqual(texts, Array.from({ length: turns }, (_, turn) => TURNS_TEXT(turn)), `${tag}: every turn ended as scripted, once: ${story(events)}`);
  assert.deepEqual(events.at(-1)?.stop_reason, { type: 'end_turn' }, `${tag}: idle at the end`);
  const uses = events.filter((event) => event.type === 'agent.tool_use');
  tally.toolUses += uses.length;
  for (const use of uses) {
    const results = events.filter((event) => event.type === 'agent.tool_result' && event.tool_use_id === use.id);
    assert.equal(results.length, 1, `${tag}: tool use ${use.id} has exactly one result`);
    if (results[0]!.is_error) tally.interrupted++;
  }
  const ledger = (await readWorkspaceFile(join(workspaces, sessionId), 'ledger').catch(() => Buffer.from(''))).toString().split('\n').filter(Boolean);
  const runs = new Map<string, number>();
  for (const line of ledger) runs.set(line, (runs.get(line) ?? 0) + 1);
  const twice = [...runs].filter(([, count]) => count > 1);
  tally.rerun += twice.length;
  assert.deepEqual(twice, [], `${tag}: no side-effecting call ran twice`);
  await stream.finish(events.at(-1)!.id);
  tally.reconnects += Math.max(0, stream.connections - 1);
  const seqs = stream.received.map((message) => message.seq);
  const repeated = seqs.length - new Set(seqs).size;
  tally.duplicates += repeated;
  assert.equal(repeated, 0, `${tag}: the stream repeated a position`);
  const seen = new Set(stream.received.map((message) => message.id));
  const missed = ids.filter((id) => !seen.has(id));
  tally.lost += missed.length;
  assert.deepEqual(missed, [], `${tag}: the resuming stream missed events`);
}
