import type { ContentBlock, StopReason } from '@anthropic-ai/sdk/resources/messages';
import { ModelError } from './errors.ts';
import type { ModelStreamEvent } from './interface.ts';

/** The blocks the brain turns into events. Server-tool blocks are not requested, so not expected. */
export type ResponseBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface ResponseSummary {
  stopReason: StopReason | null;
  usage: ModelUsage;
  /**
   * The response's last block, complete but not handed to `onBlock`: the caller records it together
   * with the end of the response (one write instead of two). Undefined when there were no blocks.
   */
  last?: { block: ResponseBlock; index: number };
}

export interface AccumulateHandlers {
  /** A block is complete (its `content_block_stop` arrived), in response order. Awaited. */
  onBlock(block: ResponseBlock, index: number): Promise<void> | void;
  /** Text as it streams, for live previews. Not awaited. */
  onTextDelta?(index: number, text: string): void;
  /** A block started (previews announce it before it completes). */
  onBlockStart?(index: number, type: ResponseBlock['type']): void;
}

export function emptyUsage(): ModelUsage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

/**
 * Fold a model's stream events into complete blocks, handing each to `onBlock` once it is complete
 * and the next block starts; the last one comes back in the summary (`last`). Resolves with the stop
 * reason and usage at `message_stop`. A stream that ends before `message_stop` throws
 * `ModelError('dropped')` — after every block that did complete was handed over, so the caller can
 * keep them. Usage seen so far is on the error (`partialUsage`).
 */
export async function accumulate(events: AsyncIterable<ModelStreamEvent>, handlers: AccumulateHandlers): Promise<ResponseSummary> {
  const usage = emptyUsage();
  let stopReason: StopReason | null = null;
  const open = new Map<number, { block: ContentBlock; json: string }>();
  let held: { block: ResponseBlock; index: number } | undefined;
  const handOver = async () => {
    const block = held;
    held = undefined;
    if (block) await handlers.onBlock(block.block, block.index);
  };
  const addUsage = (value: Partial<Record<keyof ModelUsage, number | null>>) => {
    for (const key of Object.keys(usage) as (keyof ModelUsage)[]) {
      const next = value[key];
      if (typeof next === 'number') usage[key] = next;
    }
  };
  try {
    for await (const event of events) {
      switch (event.type) {
        case 'message_start':
          addUsage(event.message.usage);
          break;
        case 'content_block_start':
          await handOver();
          open.set(event.index, { block: structuredClone(event.content_block), json: '' });
          if (['text', 'thinking', 'redacted_thinking', 'tool_use'].includes(event.content_block.type)) {
            handlers.onBlockStart?.(event.index, event.content_block.type as ResponseBlock['type']);
          }
          break;
        case 'content_block_delta': {
          const entry = open.get(event.index);
          if (!entry) break;
          const { delta } = event;
          if (delta.type === 'text_delta' && entry.block.type === 'text') {
            entry.block.text += delta.text;
            handlers.onTextDelta?.(event.index, delta.text);
          } else if (delta.type === 'thinking_delta' && entry.block.type === 'thinking') entry.block.thinking += delta.thinking;
          else if (delta.type === 'signature_delta' && entry.block.type === 'thinking') entry.block.signature = delta.signature;
          else if (delta.type === 'input_json_delta') entry.json += delta.partial_json;
          break;
        }
        case 'content_block_stop': {
          const entry = open.get(event.index);
          open.delete(event.index);
          const block = entry && toResponseBlock(entry.block, entry.json);
          if (block) {
            await handOver();
            held = { block, index: event.index };
          }
          break;
        }
        case 'message_delta':
          stopReason = event.delta.stop_reason ?? stopReason;
          addUsage(event.usage);
          break;
        case 'message_stop':
          return { stopReason, usage, last: held };
      }
    }
  } catch (error) {
    await handOver();
    throw withUsage(error, usage);
  }
  await handOver();
  throw withUsage(new ModelError('dropped', 'the model stream ended before message_stop'), usage);
}

function withUsage(error: unknown, usage: ModelUsage) {
  if (error && typeof error === 'object') (error as { partialUsage?: ModelUsage }).partialUsage = usage;
  return error;
}

function toResponseBlock(block: ContentBlock, json: string): ResponseBlock | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking':
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use': {
      let input: Record<string, unknown> = (block.input as Record<string, unknown>) ?? {};
      if (json !== '') {
        try {
          input = JSON.parse(json) as Record<string, unknown>;
        } catch {
          throw new ModelError('dropped', `the model sent tool input that is not JSON: ${json.slice(0, 200)}`);
        }
      }
      return { type: 'tool_use', id: block.id, name: block.name, input };
    }
    default:
      return undefined;
  }
}
