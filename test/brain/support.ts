import type Anthropic from '@anthropic-ai/sdk';
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages';
import type { BetaManagedAgentsSessionEvent } from '@anthropic-ai/sdk/resources/beta/sessions/events';
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { withoutCacheLayout } from '../../src/context/cache-layout.ts';
import type { Model, ModelRequest } from '../../src/model/interface.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { createAgent, createEnvironment } from '../../src/testing/fixtures.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';
import { startTestOma, type TestConfig, type TestOma } from '../../src/testing/server.ts';

/**
 * Brain tests share one server per storage. Its scripted model serves many sessions at once, so
 * each test registers its own script under a case name, and each session's first message starts
 * with `[case]`: requests are routed by it, and recorded per case.
 */
export class CaseScripts {
  private readonly cases = new Map<string, { steps: (ScriptStep | ((request: ModelRequest) => ScriptStep))[] | ((request: ModelRequest, index: number) => ScriptStep); requests: ModelRequest[] }>();
  readonly model = new ScriptedModel((request) => this.next(request));

  /** Steps in order, or a function of each request and its index among the case's requests. */
  add(name: string, steps: (ScriptStep | ((request: ModelRequest) => ScriptStep))[] | ((request: ModelRequest, index: number) => ScriptStep)) {
    const entry = { steps: typeof steps === 'function' ? steps : [...steps], requests: [] as ModelRequest[] };
    this.cases.set(name, entry);
    return { requests: entry.requests };
  }

  private next(request: ModelRequest): ScriptStep {
    const name = caseOf(request);
    const entry = name === undefined ? undefined : this.cases.get(name);
    if (!entry) return { error: { status: 400, type: 'invalid_request_error', message: `no script for case ${name}` } };
    entry.requests.push(structuredClone(withoutCacheLayout(request)));
    if (typeof entry.steps === 'function') return entry.steps(request, entry.requests.length - 1);
    const step = entry.steps.shift();
    if (!step) return { error: { status: 400, type: 'invalid_request_error', message: `script of case ${name} is exhausted` } };
    return typeof step === 'function' ? step(request) : step;
  }
}

/** `[case]` at the start of the system prompt, or else of the first message. */
function caseOf(request: ModelRequest): string | undefined {
  const system = typeof request.system === 'string' ? request.system : request.system?.[0]?.text;
  const named = system?.match(/^\[([\w-]+)\]/)?.[1];
  if (named) return named;
  const first = request.messages[0];
  const content = typeof first?.content === 'string' ? first.content : (first?.content.find((block) => block.type === 'text') as { text: string } | undefined)?.text;
  return content?.match(/^\[([\w-]+)\]/)?.[1];
}

export interface BrainHarness<M extends Model = Model> {
  oma: TestOma;
  client: Anthropic;
  scripts: CaseScripts;
  sandbox: EchoSandboxProvider;
  /** The model the server talks to: the scripts' own, or what `wrap` made of it. */
  model: M;
}

/** Runs `body` on PGlite and on PostgreSQL, each with its own server, scripted model and echo sandbox. */
export function describeBrain<M extends Model = Model>(title: string, body: (harness: () => BrainHarness<M>) => void, options: { config?: TestConfig; wrap?: (model: Model) => M } = {}) {
  for (const storage of ['pglite', 'postgres'] as const) {
    describe(`${title} (${storage})`, { skip: storage === 'postgres' && skipPostgres }, () => {
      let harness: BrainHarness<M>;
      before(async () => {
        const scripts = new CaseScripts();
        const sandbox = new EchoSandboxProvider();
        const model = options.wrap ? options.wrap(scripts.model) : (scripts.model as unknown as M);
        const oma = await startTestOma({ storage, model, sandboxes: sandbox, config: options.config });
        harness = { oma, client: oma.client, scripts, sandbox, model };
      });
      after(() => harness?.oma.dispose());
      body(() => harness);
    });
  }
}

export const TOOLSET = { type: 'agent_toolset_20260401' };

/** A session on a fresh agent (with `agent` overrides) and environment. */
export async function newSession(client: Anthropic, agent: Record<string, unknown> = {}) {
  const created = await createAgent(client, { tools: [TOOLSET], ...agent });
  const environment = await createEnvironment(client);
  return client.beta.sessions.create({ agent: created.id, environment_id: environment.id });
}

type Event = BetaManagedAgentsSessionEvent & Record<string, unknown>;

/** Every event of the session, as `events.list` returns them. */
export async function listAll(client: Anthropic, sessionId: string): Promise<Event[]> {
  const events: Event[] = [];
  for await (const event of client.beta.sessions.events.list(sessionId, { limit: 1000 })) events.push(event as Event);
  return events;
}

/**
 * Wait until the session has `count` idle events (polling the list), then return all its events.
 * `stopReason` checks the last idle's stop reason type.
 */
export async function waitForIdle(client: Anthropic, sessionId: string, options: { count?: number; timeoutMs?: number } = {}): Promise<Event[]> {
  return waitFor(client, sessionId, (events) => events.filter((event) => event.type === 'session.status_idle').length >= (options.count ?? 1), options.timeoutMs);
}

/** Resolves with the session's events once `predicate` holds for them (polling). */
export async function waitFor(client: Anthropic, sessionId: string, predicate: (events: Event[]) => boolean, timeoutMs = 10_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await listAll(client, sessionId);
    if (predicate(events)) return events;
    if (Date.now() > deadline) assert.fail(`timed out; events: ${types(events).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function types(events: { type: string }[]): string[] {
  return events.map((event) => event.type);
}

export function lastIdle(events: Event[]) {
  return events.filter((event) => event.type === 'session.status_idle').at(-1) as Event & { stop_reason: { type: string; event_ids?: string[] } };
}

export function userText(text: string) {
  return { type: 'user.message' as const, content: [{ type: 'text' as const, text }] };
}

/** The Messages API's structural rules for `messages`: user first, roles alternate, no empty text, every tool_use answered at the start of the next message. */
export function checkMessages(messages: MessageParam[]) {
  assert.equal(messages[0]?.role, 'user', 'first message is user');
  messages.forEach((message, index) => {
    if (index > 0) assert.notEqual(message.role, messages[index - 1]!.role, `messages.${index}: roles alternate`);
    const blocks = message.content as { type: string; text?: string; id?: string; tool_use_id?: string }[];
    for (const block of blocks) if (block.type === 'text') assert.ok(block.text && block.text.length > 0, `messages.${index}: text content blocks must be non-empty`);
    const uses = blocks.filter((block) => block.type === 'tool_use').map((block) => block.id);
    if (uses.length > 0) {
      const next = (messages[index + 1]?.content ?? []) as { type: string; tool_use_id?: string }[];
      const leading = next.slice(0, uses.length).map((block) => block.type === 'tool_result' && block.tool_use_id);
      assert.deepEqual(leading, uses, `messages.${index}: tool_use ids must have tool_result blocks at the start of the next message`);
    }
    const results = blocks.filter((block) => block.type === 'tool_result').map((block) => block.tool_use_id);
    if (results.length > 0) {
      const previous = (messages[index - 1]?.content ?? []) as { type: string; id?: string }[];
      const asked = new Set(previous.filter((block) => block.type === 'tool_use').map((block) => block.id));
      for (const id of results) assert.ok(asked.has(id), `messages.${index}: tool_result ${id} answers a tool_use of the previous message`);
    }
  });
}
