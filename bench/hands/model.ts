/**
 * The bench-local, zero-latency model of the TTFT measure (`HandsModel`). A session's first user
 * message, `hands <session id> <0|1>` (`handsPrompt`), names the session and whether it uses a tool:
 * - 0 (chat only): every call is answered at once with `end_turn` text;
 * - 1: the first call with a short text block and then a `bash` tool use (`{command: "true"}`),
 *   `stop_reason: tool_use`; later calls with `end_turn` text.
 * So the first `agent.*` event of every session is an `agent.message`, written when the model's
 * first text block ends, before any tool runs. `beforeFirstCall`, when set, is awaited before the
 * session's first call is answered: the eager emulation hangs the sandbox's provisioning there.
 */
import { performance } from 'node:perf_hooks';
import type { Model, ModelRequest, ModelStreamEvent } from '../../src/model/interface.ts';
import { endTurn, MESSAGE_START, MESSAGE_STOP, stopWith, textBlock } from '../lib/stream-events.ts';

const END_TURN = endTurn('done');

export interface HandsModelOptions {
  /** Awaited before a session's first call is answered (not part of the model's own time: it has none). */
  beforeFirstCall?: (sessionId: string) => Promise<void>;
}

export class HandsModel implements Model {
  /** performance.now() of every call, per session. */
  readonly calls = new Map<string, number[]>();
  private toolUses = 0;

  constructor(private readonly options: HandsModelOptions = {}) {}

  stream(request: ModelRequest): AsyncIterable<ModelStreamEvent> {
    const at = performance.now();
    const { sessionId, usesTool } = promptOf(request);
    let calls = this.calls.get(sessionId);
    if (!calls) this.calls.set(sessionId, (calls = []));
    const index = calls.push(at) - 1;
    const pending = index === 0 ? this.options.beforeFirstCall?.(sessionId) : undefined;
    if (!usesTool || index > 0) return respond(END_TURN, pending);
    const events: ModelStreamEvent[] = [
      MESSAGE_START,
      ...textBlock('Running it.'),
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: `toolu_hands_${++this.toolUses}`, name: 'bash', input: {}, caller: { type: 'direct' } },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: JSON.stringify({ command: 'true' }) } },
      { type: 'content_block_stop', index: 1 },
      stopWith('tool_use'),
      MESSAGE_STOP,
    ];
    return respond(events, pending);
  }
}

async function* respond(events: readonly ModelStreamEvent[], pending: Promise<void> | undefined): AsyncGenerator<ModelStreamEvent> {
  if (pending) await pending;
  yield* events;
}

function promptOf(request: ModelRequest): { sessionId: string; usesTool: boolean } {
  const content = request.messages[0]?.content;
  const text = typeof content === 'string' ? content : (content?.find((block) => block.type === 'text') as { text: string } | undefined)?.text;
  const match = text?.match(/^hands (\S+) ([01])$/);
  if (!match) throw new Error(`not a hands benchmark prompt: ${JSON.stringify(text)}`);
  return { sessionId: match[1]!, usesTool: match[2] === '1' };
}

/** The first user message of a session for `HandsModel`. */
export const handsPrompt = (sessionId: string, usesTool: boolean) => ({
  type: 'user.message' as const,
  content: [{ type: 'text' as const, text: `hands ${sessionId} ${usesTool ? 1 : 0}` }],
});
