import type { ContentBlockParam, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { renderContent } from '../brain/session-log-tool.ts';
import type { ModelRequest } from '../model/interface.ts';
import { isInternalEvent } from '../sessions/render.ts';
import type { StoredEvent } from '../session/interface.ts';
import type { StrategyName } from './settings.ts';
import type { ContextState } from './state.ts';
import { buildView, FIT_SHARE, indexOfSeq, lookupIn, shownEvents, type Budget, type ViewInput } from './view.ts';
import { newMessageCache } from '../brain/request.ts';
import { calibrated, CHARS_PER_TOKEN, eventTokens, rawTokens } from './tokens.ts';

/**
 * Compaction, as pure functions: where a compaction may cut the conversation, and the requests that
 * ask the model for a summary. The brain runs them and records the summary in
 * `agent.thread_context_compacted` (brain/context.ts).
 *
 * The summary covers the events before a boundary: the start of a request the model answered (so
 * everything summarised reached the model whole first) at which no tool use was open (so tool_use /
 * tool_result pairs are never split). Two ways to ask:
 * - whole: the conversation as the last request sent it, plus an instruction — it shares that
 *   request's prefix, so it reads the prompt cache;
 * - in chunks, when even that does not fit: a plain transcript, a chunk at a time, each request
 *   carrying the summary so far.
 */

/** Starts every compaction instruction (tests and fakes recognise compaction requests by it). */
export const COMPACTION_MARK = 'CONTEXT COMPACTION:';

const INSTRUCTION = `${COMPACTION_MARK} your context window is nearly full, so the conversation so far will be replaced by a summary you write now. Write it so that you can continue the work from the summary alone: the user's requests and goals (quote their exact words where it matters); decisions made and why; the state of the work (files created or changed, commands run and what they showed, with exact paths, names, values and identifiers); errors met and how they were resolved; and what remains to do next. Do not call tools. Reply with the summary only.`;

/** Whether a model request is one of the brain's compaction requests. */
export function isCompactionRequest(request: ModelRequest): boolean {
  const last = request.messages.at(-1);
  const content = typeof last?.content === 'string' ? [{ type: 'text', text: last.content }] : (last?.content ?? []);
  return content.some((block) => block.type === 'text' && (block as { text: string }).text.includes(COMPACTION_MARK));
}

/** Raw tokens of what a compaction at `boundary` would fold (from the view's start), as the view shows it. */
export function compactableTokens(events: readonly StoredEvent[], from: number, boundary: number, state: ContextState, sizes: Map<string, number>, lookup = lookupIn(events)): number {
  let total = 0;
  for (const event of shownEvents(events, from, indexOfSeq(events, boundary), lookup)) total += Math.min(eventTokens(event, sizes), state.cuts.get(event.id) ?? Infinity);
  return total;
}

/**
 * The newest seq a new compaction may cut at: a clean request start the model answered, after the
 * current boundary. Undefined when there is nothing new to compact.
 */
export function compactionBoundary(state: ContextState): number | undefined {
  const after = state.compaction?.boundarySeq ?? 0;
  for (let index = state.cleanStarts.length - 1; index >= 0; index--) {
    const seq = state.cleanStarts[index]!;
    if (seq <= after) return undefined;
    if (seq <= state.seenSeq) return seq;
  }
  return undefined;
}

/**
 * Why the next request must be compacted first, if it must: it is past the strategy's threshold
 * (`compact` only), or too large for the window at all (any strategy) — unless what a compaction
 * could fold (`compactable` tokens, what the model has seen) is under a fifth of it: then the new
 * content is what is too large, and it is cut instead. `near` is true when the estimate is within
 * 15% above the threshold (where an exact count is worth asking for).
 */
export function compactionReason(estimate: number, compactable: number, budget: Pick<Budget, 'input' | 'compactAt'>, strategy: StrategyName): { reason: 'threshold' | 'window'; near: boolean } | undefined {
  if (compactable < estimate / 5) return undefined;
  if (estimate > budget.input * FIT_SHARE) return { reason: 'window', near: false };
  if (strategy !== 'compact' || estimate <= budget.compactAt) return undefined;
  return { reason: 'threshold', near: estimate <= budget.compactAt * 1.15 };
}

/** Tokens a summary may take: a tenth of the window, within bounds. */
export function summaryTokens(window: number, maxTokens: number): number {
  return Math.max(256, Math.min(maxTokens, 8_192, Math.floor(window / 10)));
}

/**
 * The whole-conversation compaction request for the events before index `to`, if one fits: the
 * conversation as the session's strategy showed it (sharing the last request's prefix, so it reads
 * the prompt cache), or else trimmed; undefined when even that is too large (then: chunks).
 */
export function wholeCompaction(input: Omit<ViewInput, 'memo' | 'fit'>, to: number, maxTokens: number, sizes: Map<string, number>): ModelRequest | undefined {
  const strategies = [...new Set<StrategyName>([input.strategy, input.strategy === 'none' || input.strategy === 'cache' ? 'compact' : input.strategy])];
  for (const strategy of strategies) {
    const prefix = buildView({ ...input, events: input.events.slice(0, to), strategy, logTool: false, memo: { sizes, messages: newMessageCache() } });
    const request = wholeRequest(prefix.request, maxTokens);
    if (calibrated(rawTokens(request), input.state.calibration) <= input.budget.input * FIT_SHARE) return request;
  }
  return undefined;
}

/** The whole-conversation request: `prefix` is the view the model last answered; the instruction is appended. */
export function wholeRequest(prefix: ModelRequest, maxTokens: number): ModelRequest {
  const messages = [...prefix.messages];
  const instruction: ContentBlockParam = { type: 'text', text: INSTRUCTION };
  const last = messages.at(-1);
  if (last?.role === 'user') messages[messages.length - 1] = { role: 'user', content: [...(last.content as ContentBlockParam[]), instruction] };
  else messages.push({ role: 'user', content: [instruction] });
  const request: ModelRequest = { ...prefix, messages, max_tokens: maxTokens };
  if (prefix.tools?.length) request.tool_choice = { type: 'none' };
  return request;
}

/**
 * What the view of `events[from, to)` shows (client messages where they were taken) as transcript pieces, each at most `maxChars` long (a longer one
 * keeps its start and end), grouped into chunks of at most `chunkChars`.
 */
export function transcriptChunks(events: readonly StoredEvent[], from: number, to: number, chunkChars: number, lookup = lookupIn(events)): string[] {
  const maxPiece = Math.max(200, chunkChars - 100);
  const chunks: string[] = [];
  let current = '';
  for (const event of shownEvents(events, from, to, lookup)) {
    if (isInternalEvent(event.type) || event.type.startsWith('span.') || event.type.startsWith('session.')) continue;
    let piece = `[${event.type} ${event.id}] ${renderContent(event)}\n`;
    if (piece.length > maxPiece) {
      const keep = Math.floor((maxPiece - 80) / 2);
      piece = `${piece.slice(0, keep)}\n[… ${piece.length - 2 * keep} characters left out …]\n${piece.slice(piece.length - keep)}`;
    }
    if (current.length + piece.length > chunkChars && current !== '') {
      chunks.push(current);
      current = '';
    }
    current += piece;
  }
  if (current !== '') chunks.push(current);
  return chunks;
}

/** Characters of transcript one chunk request may carry, given the budget and what else it holds. */
export function chunkChars(inputTokens: number, fixedTokens: number, summaryTokens: number): number {
  return Math.max(2_000, (inputTokens - fixedTokens - summaryTokens - 600) * CHARS_PER_TOKEN * 0.9);
}

/** One chunk's request: the transcript part, the summary so far, and the instruction. No tools. */
export function chunkRequest(base: Pick<ModelRequest, 'model' | 'system'>, chunk: string, part: number, parts: number, previous: string | undefined, maxTokens: number): ModelRequest {
  const earlier = previous ? `Summary of everything before this part:\n<summary>\n${previous}\n</summary>\n\n` : '';
  const text = `${earlier}Transcript of the session, part ${part} of ${parts}:\n<transcript>\n${chunk}</transcript>\n\n${INSTRUCTION} Cover everything above: the earlier summary and this part.`;
  const messages: MessageParam[] = [{ role: 'user', content: [{ type: 'text', text }] }];
  const request: ModelRequest = { model: base.model, max_tokens: maxTokens, messages };
  if (base.system) request.system = base.system;
  return request;
}
