import type { ModelUsage } from '../model/accumulate.ts';
import type { NewEvent, StoredEvent } from '../session/interface.ts';
import { PRIVATE_KEY, PROCESSED, type SessionHistory } from './history.ts';

/** The events a run writes that are a function of their inputs alone. */

export const text = (value: string) => [{ type: 'text', text: value }];

/** The end of a model request: its usage, and (privately) its stop reason. */
export function requestEnd(start: NewEvent, isError: boolean, usage?: ModelUsage, stopReason?: string | null): NewEvent {
  const modelUsage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...usage, speed: null };
  const payload: Record<string, unknown> = { model_request_start_id: start.id, is_error: isError, model_usage: modelUsage };
  if (stopReason) payload[PRIVATE_KEY] = { stop_reason: stopReason };
  return { type: 'span.model_request_end', payload };
}

/** "The brain took client event `event`, now" (decision 0006). */
export function taken(event: StoredEvent): NewEvent {
  return { type: PROCESSED, payload: { event_id: event.id, processed_at: new Date().toISOString() } };
}

export function sessionError(type: string, message: string, retryStatus: 'retrying' | 'exhausted' | 'terminal'): NewEvent {
  return { type: 'session.error', payload: { error: { type, message, retry_status: { type: retryStatus } } } };
}

/** The session's usage as `session.usage` and the session row show it, active time up to now. */
export function usagePayload(history: SessionHistory) {
  const { usage, activeSeconds, runningSince } = history;
  return {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    cache_creation: { ephemeral_5m_input_tokens: usage.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 },
    active_seconds: activeSeconds + (runningSince ? Math.max(0, (Date.now() - runningSince.getTime()) / 1000) : 0),
  };
}

/**
 * The result closing tool use `useId` with `output`: an `agent.mcp_tool_result` for an MCP call, an
 * `agent.tool_result` for the others oma runs (with its trace, privately), and a `user.tool_result` for
 * a worker's call (self_hosted), closed here as the hands' answer: the SDK's worker counts only
 * user.tool_result as answered, and would otherwise still run it.
 */
export function toolResultEvent(history: SessionHistory, useId: string, output: string, isError: boolean, trace?: unknown): NewEvent {
  const use = history.toolUses.get(useId);
  if (use && history.isWorkerCall(use)) return { type: 'user.tool_result', payload: { tool_use_id: useId, content: text(output), is_error: isError } };
  const mcp = use?.kind === 'mcp';
  const payload: Record<string, unknown> = { [mcp ? 'mcp_tool_use_id' : 'tool_use_id']: useId, content: text(output), is_error: isError };
  if (trace) payload[PRIVATE_KEY] = { trace };
  return { type: mcp ? 'agent.mcp_tool_result' : 'agent.tool_result', payload };
}
