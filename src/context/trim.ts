import type { ContentBlockParam } from '@anthropic-ai/sdk/resources/messages';
import type { StoredEvent } from '../session/interface.ts';
import { CHARS_PER_TOKEN, eventTokens } from './tokens.ts';

/**
 * What a view replaces, as pure functions of the events and a budget: old tool results and thinking
 * become placeholders (trimming), and content too large for the window even on its own is cut in
 * the middle (fitting). A placeholder names the event it stands for, so the model can read it again
 * (`read_session_log`), and the log itself is never touched.
 */

const RESULT_TYPES = new Set(['agent.tool_result', 'user.tool_result', 'user.custom_tool_result', 'agent.mcp_tool_result']);

/** Tokens a placeholder takes (roughly): what trimming an event saves is its size minus this. */
const PLACEHOLDER_TOKENS = 40;
/** Content is never cut below this many tokens. */
const MIN_CUT_TOKENS = 256;

export function isTrimmable(event: StoredEvent): boolean {
  return RESULT_TYPES.has(event.type) || event.type === 'agent.thinking';
}

/** Whether the event at `index` is trimmed by the point `cut` (small ones are kept: trimming them saves nothing). */
export function isTrimmed(event: StoredEvent, index: number, cut: number, sizes: Map<string, number>): boolean {
  return index < cut && isTrimmable(event) && eventTokens(event, sizes) > PLACEHOLDER_TOKENS;
}

export interface TrimInput {
  events: readonly StoredEvent[];
  /** Index where the view starts. */
  from: number;
  /** Only events before this seq may be trimmed: the model has seen them whole. */
  seenSeq: number;
  /** Raw tokens of the whole view, and the threshold and step (raw tokens). */
  total: number;
  trimAt: number;
  step: number;
  sizes: Map<string, number>;
}

/**
 * The index before which trimmable events are trimmed (`from`: none). Trimming starts when the view
 * passes `trimAt`, and moves only in steps of at least `step` tokens, at positions fixed by the log
 * alone (the k-th step ends where the trimmable tokens since `from` first reach k·step). So the cut
 * stays put for many requests — their shared prefix, and so the prompt cache, survive — and moves
 * forward only, as the conversation grows.
 */
export function trimPoint(input: TrimInput): number {
  const { events, from, seenSeq, total, trimAt, step, sizes } = input;
  if (total <= trimAt) return from;
  let saved = 0;
  let nextStep = step;
  let cut = from;
  for (let index = from; index < events.length; index++) {
    const event = events[index]!;
    if (event.seq >= seenSeq) break;
    if (!isTrimmable(event)) continue;
    const saves = eventTokens(event, sizes) - PLACEHOLDER_TOKENS;
    if (saves <= 0) continue;
    saved += saves;
    if (saved < nextStep) continue;
    cut = index + 1;
    if (total - saved <= trimAt) return cut;
    nextStep = (Math.floor(saved / step) + 1) * step;
  }
  return cut;
}

/** The placeholder a trimmed event shows instead of its content. */
export function trimmedContent(event: StoredEvent, sizes: Map<string, number>, logTool: boolean): ContentBlockParam[] {
  const again = logTool ? `; read it again with read_session_log (action "get", event_id "${event.id}")` : '';
  if (event.type === 'agent.thinking') return [{ type: 'text', text: `[earlier thinking trimmed from this view: event ${event.id}]` }];
  const size = eventTokens(event, sizes) * CHARS_PER_TOKEN;
  return [{ type: 'text', text: `[tool result trimmed from this view to save context: about ${size.toLocaleString('en-US')} characters, event ${event.id}${again}]` }];
}

export interface CutInput {
  /** Events that may be cut (content the model has not seen yet: it cannot be compacted). */
  candidates: readonly StoredEvent[];
  /** Raw tokens to remove, at least. */
  excess: number;
  sizes: Map<string, number>;
}

/**
 * The cap, in raw tokens, that candidates larger than it are cut to so that `excess` tokens go: the
 * largest cap that removes enough (water-filling, largest first). Undefined when nothing needs to go.
 */
export function cutCap(input: CutInput): number | undefined {
  if (input.excess <= 0 || input.candidates.length === 0) return undefined;
  const sizes = input.candidates.map((event) => eventTokens(event, input.sizes));
  const removed = (cap: number) => sizes.reduce((sum, size) => sum + Math.max(0, size - cap), 0);
  let low = MIN_CUT_TOKENS;
  let high = Math.max(...sizes);
  if (removed(low) < input.excess) return low; // cut everything as far as allowed; the model may still refuse
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (removed(middle) >= input.excess) low = middle;
    else high = middle;
  }
  return low;
}

/** An event's content cut to `cap` raw tokens: its start and its end, and in the middle what was cut and where it all is. */
export function cutContent(event: StoredEvent, content: ContentBlockParam[], cap: number, logTool: boolean): ContentBlockParam[] {
  const text = content.map((block) => (block.type === 'text' ? block.text : `[${block.type} left out]`)).join('\n');
  const keep = Math.max(0, cap * CHARS_PER_TOKEN - 400);
  if (text.length <= keep) return [{ type: 'text', text }];
  const head = text.slice(0, Math.ceil(keep / 2));
  const tail = text.slice(text.length - Math.floor(keep / 2));
  const what = event.type === 'user.message' ? 'message' : 'tool result';
  const again = logTool ? ` Read the rest with read_session_log (action "get", event_id "${event.id}", with offset).` : '';
  const note = `[… ${(text.length - head.length - tail.length).toLocaleString('en-US')} of ${text.length.toLocaleString('en-US')} characters were cut from the middle of this ${what} (event ${event.id}) to fit the model's context window.${again} …]`;
  return [{ type: 'text', text: `${head}\n\n${note}\n\n${tail}` }];
}
