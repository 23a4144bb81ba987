import { newId } from '../ids.ts';
import type { ModelUsage, ResponseBlock } from '../model/accumulate.ts';
import type { NewEvent, StoredEvent } from '../session/interface.ts';
import { PRIVATE_KEY, PROCESSED, type SessionHistory, type ToolUse } from './history.ts';
import { evaluatePermission, IDEMPOTENT_TOOLS, type ToolEntry } from './toolset.ts';

/** The events a run writes that are a function of their inputs alone. */

export const text = (value: string) => [{ type: 'text', text: value }];

/**
 * The end of a model request: its usage, and privately its stop reason and `own` bookkeeping (the
 * input estimate, a compaction's purpose).
 */
export function requestEnd(start: NewEvent, isError: boolean, usage?: ModelUsage, stopReason?: string | null, own: Record<string, unknown> = {}): NewEvent {
  const modelUsage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...usage, speed: null };
  const payload: Record<string, unknown> = { model_request_start_id: start.id, is_error: isError, model_usage: modelUsage };
  const ownData = { ...own, ...(stopReason ? { stop_reason: stopReason } : {}) };
  if (Object.keys(ownData).length > 0) payload[PRIVATE_KEY] = ownData;
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

/** The event a complete response block becomes: a message, private thinking, or a tool use with its evaluated permission. */
export function responseEvent(block: ResponseBlock, catalog: ReadonlyMap<string, ToolEntry>, id = newId('sevt')): NewEvent {
  switch (block.type) {
    case 'text':
      return { id, type: 'agent.message', payload: { content: text(block.text) } };
    case 'thinking':
    case 'redacted_thinking':
      return { id, type: 'agent.thinking', payload: { [PRIVATE_KEY]: { blocks: [block] } } };
    case 'tool_use': {
      const entry = catalog.get(block.name);
      if (entry?.kind === 'custom') return { id, type: 'agent.custom_tool_use', payload: { name: block.name, input: block.input } };
      // A name the agent does not offer is refused before any policy applies.
      const permission = entry?.policy ? evaluatePermission(entry.policy, entry.kind !== 'mcp' && IDEMPOTENT_TOOLS.has(block.name)) : { evaluated_permission: 'deny' };
      if (entry?.kind === 'mcp' && entry.mcp) {
        const renamed = entry.mcp.tool !== block.name ? { [PRIVATE_KEY]: { tool_name: block.name } } : {};
        return { id, type: 'agent.mcp_tool_use', payload: { name: entry.mcp.tool, mcp_server_name: entry.mcp.server, input: block.input, ...permission, ...renamed } };
      }
      return { id, type: 'agent.tool_use', payload: { name: block.name, input: block.input, ...permission } };
    }
  }
}

/** What the model is told when a call is denied: by policy, or because no tool has that name. */
export function denialReason(use: ToolUse, catalog: ReadonlyMap<string, ToolEntry>): string {
  const name = use.event.payload.name as string;
  return catalog.has(name) ? `The permission policy denied this call to ${name}.` : `There is no tool named ${name}; use one of: ${[...catalog.keys()].join(', ') || '(none)'}.`;
}
