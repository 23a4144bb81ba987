import type { ContentBlockParam, MessageParam, TextBlockParam } from '@anthropic-ai/sdk/resources/messages';
import { buildRequest, newMessageCache, type AgentSnapshot, type MessageCache, type RequestOptions } from '../brain/request.ts';
import type { ModelRequest } from '../model/interface.ts';
import type { StoredEvent } from '../session/interface.ts';
import { layoutForCache } from './cache-layout.ts';
import type { StrategyName } from './settings.ts';
import type { ContextState } from './state.ts';
import { calibrated, eventTokens, rawTokens } from './tokens.ts';
import { cutCap, cutContent, isTrimmed, trimmedContent, trimPoint } from './trim.ts';

/**
 * The request a session's next model call sends: a view of its log, built by a pure function of
 * (events, agent, strategy, budget). The newest compaction's summary stands for the events before
 * its boundary; trimming replaces old tool results and thinking by placeholders; fitting cuts
 * content too large to fit even alone; the cache layout marks breakpoints. The log is never edited,
 * so another strategy can build another view from the same events at any time.
 */

export interface Budget {
  window: number;
  /** `max_tokens` of each request (at most a quarter of the window). */
  maxTokens: number;
  /** Input tokens a request may have: the window minus room for the answer. */
  input: number;
  /** Compact when a view's estimate passes this. */
  compactAt: number;
  /** Trim when a view passes this, in steps of at least `trimStep`. */
  trimAt: number;
  trimStep: number;
}

/** A request is made to fit in this share of the input budget (estimates are estimates). */
export const FIT_SHARE = 0.95;
/** Content cut to fit is cut until the request takes this share of the input budget. */
const CUT_SHARE = 0.6;

/**
 * The budget for a window. Trimming starts at 60% of the compaction threshold and then trims at
 * least half of it at once: a trim rewrites the prompt after its first trimmed result (the cache
 * must write it again, at 1.25× the input price), so trimming rarely and deeply costs least —
 * measured on a recorded 300-turn session, this beat both smaller steps and caching alone on input
 * tokens and on cost (bench/context.ts, docs/benchmarks.md).
 */
export function budgetFor(window: number, maxTokens: number, compactAt: number): Budget {
  const reserve = Math.max(1, Math.min(maxTokens, Math.floor(window / 4)));
  const input = window - reserve;
  const compactTokens = Math.floor(input * compactAt);
  return { window, maxTokens: reserve, input, compactAt: compactTokens, trimAt: Math.floor(compactTokens * 0.6), trimStep: Math.max(1, Math.floor(compactTokens * 0.5)) };
}

/** Kept by the caller across views of the same growing log. */
export interface ViewMemo {
  sizes: Map<string, number>;
  messages: MessageCache;
}

export function newViewMemo(): ViewMemo {
  return { sizes: new Map(), messages: newMessageCache() };
}

export interface ViewInput {
  events: readonly StoredEvent[];
  state: ContextState;
  agent: AgentSnapshot;
  strategy: StrategyName;
  budget: Budget;
  /** Whether placeholders may point at `read_session_log` (the agent has it). */
  logTool: boolean;
  memo: ViewMemo;
  /** What `buildRequest` needs besides the view: the tools, files, the event index. */
  request?: Pick<RequestOptions, 'catalog' | 'files' | 'lookup'>;
  /** Cut unseen content that does not fit (done when a compaction cannot make room). */
  fit?: boolean;
}

export interface View {
  request: ModelRequest;
  /** Raw and calibrated estimates of the request's input tokens. */
  raw: number;
  estimate: number;
  /** Index of the first event shown verbatim (after the newest compaction's boundary). */
  from: number;
  /** Trimmable events before this index are trimmed. */
  trimmedBefore: number;
  /** Content the model had not seen, cut to `cap` tokens to fit (recorded with the request, so later views show it the same). */
  cut?: { cap: number; events: string[] };
}

/** Index of the first event at or after `seq` (events are in seq order). */
export function indexOfSeq(events: readonly StoredEvent[], seq: number): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (events[middle]!.seq < seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * The events whose content a view of `events[from, to)` shows, in its order: client messages where
 * they were taken (found by `lookup`), everything else where it was logged.
 */
export function* shownEvents(events: readonly StoredEvent[], from: number, to: number, lookup: (id: string) => StoredEvent | undefined): Generator<StoredEvent> {
  for (let index = from; index < to; index++) {
    const event = events[index]!;
    if (event.type === 'user.message' || event.type === 'system.message') continue;
    if (event.type !== 'oma.processed') yield event;
    else {
      const taken = lookup(event.payload.event_id as string);
      if (taken?.type === 'user.message' || taken?.type === 'system.message') yield taken;
    }
  }
}

/** An id lookup over `events` (built when the caller has none). */
export function lookupIn(events: readonly StoredEvent[]): (id: string) => StoredEvent | undefined {
  const byId = new Map(events.map((event) => [event.id, event]));
  return (id) => byId.get(id);
}

export function buildView(input: ViewInput): View {
  const { events, state, budget, memo } = input;
  const from = state.compaction ? indexOfSeq(events, state.compaction.boundarySeq) : 0;
  const lookup = input.request?.lookup ?? lookupIn(events);
  const files = input.request?.files;
  const size = (event: StoredEvent) => Math.min(eventTokens(event, memo.sizes, files), state.cuts.get(event.id) ?? Infinity);
  let total = rawTokens(input.agent.system) + rawTokens(input.agent.tools) + rawTokens(state.compaction?.summary);
  for (const event of shownEvents(events, from, events.length, lookup)) total += size(event);
  const trims = input.strategy === 'trim' || input.strategy === 'compact';
  const cal = state.calibration ?? 1;
  const trimmedBefore = trims ? trimPoint({ events, from, seenSeq: state.seenSeq, total, trimAt: budget.trimAt / cal, step: budget.trimStep / cal, sizes: memo.sizes }) : from;
  // Content the model has not seen yet (it can be cut to fit, never compacted or trimmed).
  const unseen = (event: StoredEvent) => (state.positionOf(event) ?? Infinity) > state.seenSeq;
  const candidates = () => [...shownEvents(events, from, events.length, lookup)].filter((event) => unseen(event) && cuttable(event) && !state.cuts.has(event.id));
  const trimmed = new Set<string>();
  for (let index = from; index < trimmedBefore; index++) if (isTrimmed(events[index]!, index, trimmedBefore, memo.sizes)) trimmed.add(events[index]!.id);

  const make = (cap?: number): View => {
    const rewrite = (event: StoredEvent): ContentBlockParam[] | undefined => {
      if (trimmed.has(event.id)) return trimmedContent(event, memo.sizes, input.logTool);
      // What a request the model answered showed cut stays cut: the same view, the same cached prefix.
      const shown = state.cuts.get(event.id) ?? (unseen(event) && cuttable(event) ? cap : undefined);
      if (shown === undefined || eventTokens(event, memo.sizes) <= shown) return undefined;
      return cutContent(event, event.payload.content as ContentBlockParam[], shown, input.logTool);
    };
    const request = buildRequest(events, input.agent, {
      ...input.request,
      maxTokens: budget.maxTokens,
      from,
      rewrite,
      viewKey: `${from}:${trimmedBefore}:${cap ?? ''}:${state.cuts.size}`,
      cache: memo.messages,
    });
    if (state.compaction) request.messages = withSummary(request.messages, summaryText(state.compaction.summary, lastPublicBefore(events, from)?.id, input.logTool));
    const laidOut = input.strategy === 'none' ? request : layoutForCache(request, { summary: state.compaction !== undefined });
    const raw = rawTokens(laidOut);
    const cut = cap === undefined ? [] : candidates().filter((event) => eventTokens(event, memo.sizes) > cap).map((event) => event.id);
    return { request: laidOut, raw, estimate: calibrated(raw, state.calibration), from, trimmedBefore, cut: cut.length > 0 ? { cap: cap!, events: cut } : undefined };
  };

  const view = make();
  if (!input.fit || view.raw <= (budget.input * FIT_SHARE) / cal) return view;
  // Cut down to a share of the budget, not to its edge: the conversation goes on after it.
  const cap = cutCap({ candidates: candidates(), excess: view.raw - (budget.input * CUT_SHARE) / cal, sizes: memo.sizes });
  return cap === undefined ? view : make(cap);
}

/** The newest event before `index` that clients (and read_session_log) know. */
function lastPublicBefore(events: readonly StoredEvent[], index: number): StoredEvent | undefined {
  for (let at = index - 1; at >= 0; at--) if (!events[at]!.type.startsWith('oma.')) return events[at];
  return undefined;
}

/** Content that may be cut to fit: tool results and the user's messages (their text). */
function cuttable(event: StoredEvent): boolean {
  return event.type === 'user.message' || event.type.endsWith('tool_result');
}

/** The text that stands for the compacted part of the conversation. */
export function summaryText(summary: string, lastCoveredId: string | undefined, logTool: boolean): string {
  const through = lastCoveredId ? ` (its events up to ${lastCoveredId})` : '';
  const again = logTool ? ' Any of those events can be read again with read_session_log.' : '';
  return `The earlier part of this session${through} was compacted to stay within the context window; this is its summary.${again}\n\n<summary>\n${summary}\n</summary>`;
}

/** The summary first, as (the start of) the first user message. */
function withSummary(messages: MessageParam[], text: string): MessageParam[] {
  const block: TextBlockParam = { type: 'text', text };
  const first = messages[0];
  if (first?.role === 'user') return [{ role: 'user', content: [block, ...(first.content as ContentBlockParam[])] }, ...messages.slice(1)];
  return [{ role: 'user', content: [block] }, ...messages];
}
