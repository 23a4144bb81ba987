import type { ModelStreamEvent } from '../../src/model/interface.ts';

/**
 * Prebuilt Messages API stream events for the benchmarks' zero-latency models: built once, yielded as
 * they are, so a benchmark measures oma and not the fake model.
 */

export const USAGE = { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };

export const MESSAGE_START: ModelStreamEvent = {
  type: 'message_start',
  message: {
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    model: 'bench',
    content: [],
    container: null,
    diagnostics: null,
    stop_reason: null,
    stop_sequence: null,
    stop_details: null,
    usage: {
      ...USAGE,
      output_tokens: 1,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: 'standard',
      inference_geo: null,
      speed: null,
    },
  },
};

export const MESSAGE_STOP: ModelStreamEvent = { type: 'message_stop' };

export function stopWith(reason: 'tool_use' | 'end_turn'): ModelStreamEvent {
  return { type: 'message_delta', delta: { stop_reason: reason, stop_sequence: null, stop_details: null, container: null }, usage: { ...USAGE, output_tokens_details: null, server_tool_use: null } };
}

/** A complete text block at `index`. */
export function textBlock(text: string, index = 0): ModelStreamEvent[] {
  return [
    { type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } },
    { type: 'content_block_delta', index, delta: { type: 'text_delta', text } },
    { type: 'content_block_stop', index },
  ];
}

/** A whole response: one text block, `end_turn`. */
export function endTurn(text: string): ModelStreamEvent[] {
  return [MESSAGE_START, ...textBlock(text), stopWith('end_turn'), MESSAGE_STOP];
}
