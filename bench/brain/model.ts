/**
 * The bench-local, zero-latency model (`BenchModel`): it answers at once from prebuilt stream events,
 * never copies the request, and records `performance.now()` of every call. A session's first
 * message, `bench <tag> <n>` (`prompt(tag, n)`), tells it to answer the first n calls with one `bash`
 * tool use (`{command: "x", output_bytes: 1024}`, which the echo sandbox answers with 1 KB) and every
 * later call with `end_turn` text.
 */
import { performance } from 'node:perf_hooks';
import type { Model, ModelRequest, ModelStreamEvent } from '../../src/model/interface.ts';
import { endTurn, MESSAGE_START, MESSAGE_STOP, stopWith } from '../lib/stream-events.ts';
import { cpuNow } from './cpu.ts';

/** One model call as the model saw it. */
export interface Call {
  /** `performance.now()` when the brain called `stream`. */
  at: number;
  /** SQL statements the server's `Db` had run by then (see `countStatements`). */
  statements: number;
  /** CPU time of this process by then (µs, user + system). */
  cpuUs: number;
}

/** Runs on a call before it is answered; a promise it returns is awaited first (not part of the call's time). */
export type CallHook = (index: number, request: ModelRequest) => Promise<void> | void;

const TOOL_INPUT = JSON.stringify({ command: 'x', output_bytes: 1024 });
const BLOCK_STOP: ModelStreamEvent = { type: 'content_block_stop', index: 0 };
const TOOL_USE_TAIL: ModelStreamEvent[] = [
  { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: TOOL_INPUT } },
  BLOCK_STOP,
  stopWith('tool_use'),
  MESSAGE_STOP,
];
const END_TURN_EVENTS = endTurn('done');

/**
 * Zero-latency model for the benchmark. Shared by every session of a server; a session's first user
 * message (`bench <tag> <n>`) names its calls (`calls.get(tag)`) and how many of them get a tool use.
 */
export class BenchModel implements Model {
  readonly calls = new Map<string, Call[]>();
  /** Statements run so far by the server's Db (set once the server is up). */
  statements: () => number = () => 0;
  private readonly hooks = new Map<string, CallHook>();
  private toolUses = 0;

  onCall(tag: string, hook: CallHook) {
    this.hooks.set(tag, hook);
  }

  callsOf(tag: string): Call[] {
    return this.calls.get(tag) ?? [];
  }

  stream(request: ModelRequest): AsyncIterable<ModelStreamEvent> {
    const call: Call = { at: performance.now(), statements: this.statements(), cpuUs: cpuNow() };
    const { tag, toolCalls } = promptOf(request);
    let calls = this.calls.get(tag);
    if (!calls) this.calls.set(tag, (calls = []));
    const index = calls.push(call) - 1;
    const pending = this.hooks.get(tag)?.(index, request);
    if (index >= toolCalls) return respond(END_TURN_EVENTS, pending);
    const start: ModelStreamEvent = {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: `toolu_bench_${++this.toolUses}`, name: 'bash', input: {}, caller: { type: 'direct' } },
    };
    return respond([MESSAGE_START, start, ...TOOL_USE_TAIL], pending);
  }
}

async function* respond(events: readonly ModelStreamEvent[], pending: Promise<void> | void): AsyncGenerator<ModelStreamEvent> {
  if (pending) await pending;
  yield* events;
}

/** `bench <tag> <n>` from the first user message. */
function promptOf(request: ModelRequest): { tag: string; toolCalls: number } {
  const content = request.messages[0]?.content;
  const text = typeof content === 'string' ? content : (content?.find((block) => block.type === 'text') as { text: string } | undefined)?.text;
  const match = text?.match(/^bench (\S+) (\d+)$/);
  return match ? { tag: match[1]!, toolCalls: Number(match[2]) } : { tag: 'unknown', toolCalls: 0 };
}

/** The first user message of a session the model answers with `toolCalls` tool uses, its calls recorded under `tag`. */
export const prompt = (tag: string, toolCalls: number) => userText(`bench ${tag} ${toolCalls}`);
export const userText = (text: string) => ({ type: 'user.message' as const, content: [{ type: 'text' as const, text }] });
