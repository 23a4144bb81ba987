import { compactableTokens, compactionBoundary, compactionReason, chunkChars, chunkRequest, summaryTokens, transcriptChunks, wholeCompaction } from '../context/compaction.ts';
import type { ContextSettings } from '../context/settings.ts';
import { WINDOW_SPAN } from '../context/state.ts';
import { calibrated, eventTokens, parseTooLong, rawTokens } from '../context/tokens.ts';
import { budgetFor, buildView, indexOfSeq, newViewMemo, type Budget, type View } from '../context/view.ts';
import { newId } from '../ids.ts';
import { accumulate, type ModelUsage } from '../model/accumulate.ts';
import { isModelError, type ModelError } from '../model/errors.ts';
import type { Model, ModelRequest } from '../model/interface.ts';
import type { NewEvent, StoredEvent } from '../session/interface.ts';
import { requestEnd } from './event-builders.ts';
import { SPAN, type SessionHistory } from './history.ts';
import type { AgentSnapshot, RequestOptions } from './request.ts';

/**
 * A run's context keeper: builds each request as the session's strategy says (context/view.ts),
 * compacts when the conversation outgrows its threshold, and recovers when the model refuses a
 * prompt as too long — learning the model's real window, compacting, cutting what cannot be
 * compacted — so a session never fails for context length. After `MAX_FIT_ATTEMPTS` refusals in a
 * row the turn ends with `compaction_limit_reached_error` (the caller's part).
 */

export const MAX_FIT_ATTEMPTS = 3;

export interface ContextDeps {
  model: Model;
  history: SessionHistory;
  agent: AgentSnapshot;
  settings: ContextSettings;
  /** The `max_tokens` the brain asks for. */
  maxTokens: number;
  /** Windows models turned out to have, shared by every session of this process. */
  learnedWindows: Map<string, number>;
  append(events: NewEvent[]): Promise<void>;
  signal(): AbortSignal;
}

export class ContextKeeper {
  private readonly memo = newViewMemo();
  private refusals = 0;

  constructor(private readonly deps: ContextDeps) {}

  private get modelId(): string {
    const model = this.deps.agent.model;
    return typeof model === 'string' ? model : model.id;
  }

  /** The budget under the smallest window the session's log knows for the model: configured, or learned. */
  budget(): Budget {
    const { settings, history, maxTokens } = this.deps;
    const window = Math.min(settings.window, history.context.learnedWindows.get(this.modelId) ?? Infinity);
    return budgetFor(window, maxTokens, settings.compactAt);
  }

  /**
   * A smaller window this process learned (from another session's refusal) is written into this
   * session's log before it is used, so that the view stays a function of the log: any brain, on any
   * worker, builds the same one.
   */
  async adoptLearnedWindow() {
    const learned = this.deps.learnedWindows.get(this.modelId);
    if (learned === undefined || learned >= this.budget().window) return;
    await this.deps.append([{ type: SPAN, payload: { name: WINDOW_SPAN, model: this.modelId, window: learned, tokens: null, estimate: null, adopted: true } }]);
  }

  /** The request for the next model call; content the model has not seen is cut if it cannot fit otherwise. */
  view(request: Pick<RequestOptions, 'catalog' | 'files' | 'lookup'>, options: { fit?: boolean } = { fit: true }): View {
    const { history, agent, settings } = this.deps;
    return buildView({ events: history.events, state: history.context, agent, strategy: settings.strategy, budget: this.budget(), logTool: settings.sessionLogTool, memo: this.memo, request, fit: options.fit });
  }

  /**
   * Whether the conversation must be compacted before the next request: past the strategy's
   * threshold (`compact` only), or too large for the window at all (any strategy). `pending` are
   * client events about to be taken (not in the view yet). Near the threshold the model's own count
   * decides, when it offers one.
   */
  async needsCompaction(request: Pick<RequestOptions, 'catalog' | 'files' | 'lookup'>, pending: readonly StoredEvent[] = []): Promise<'threshold' | 'window' | undefined> {
    const { history, settings, model } = this.deps;
    const boundary = compactionBoundary(history.context);
    if (boundary === undefined) return undefined;
    const budget = this.budget();
    const view = this.view(request, { fit: false });
    const calibration = history.context.calibration;
    const extra = calibrated(pending.reduce((sum, event) => sum + eventTokens(event, this.memo.sizes, request.files), 0), calibration);
    const compactable = calibrated(compactableTokens(history.events, view.from, boundary, history.context, this.memo.sizes, request.lookup), calibration);
    const decision = compactionReason(view.estimate + extra, compactable, budget, settings.strategy);
    if (!decision?.near || !model.countTokens) return decision?.reason;
    try {
      return (await model.countTokens(view.request, { signal: this.deps.signal() })) + extra > budget.compactAt ? 'threshold' : undefined;
    } catch (error) {
      if (isModelError(error, 'aborted')) throw error; // an interrupt or a shutdown: the step ends here
      return 'threshold'; // no count available: the estimate decides
    }
  }

  /**
   * Summarise the conversation up to the newest boundary the model has seen, and record it. False
   * when there is nothing to compact. Model failures are thrown as `ModelError`s (a refusal as too
   * long was already learned from).
   */
  async compact(reason: 'threshold' | 'window', sources: Pick<RequestOptions, 'catalog' | 'files' | 'lookup'>): Promise<boolean> {
    const { history, agent } = this.deps;
    const state = history.context;
    const boundary = compactionBoundary(state);
    if (boundary === undefined) return false;
    const events = history.events;
    const budget = this.budget();
    const current = this.view(sources, { fit: false });
    const to = indexOfSeq(events, boundary);
    const maxTokens = summaryTokens(budget.window, this.deps.maxTokens);
    // The conversation as the model last saw it, plus the instruction — trimmed if need be.
    const whole = wholeCompaction({ events, state, agent, strategy: this.deps.settings.strategy, budget, logTool: false, request: sources }, to, maxTokens, this.memo.sizes);
    let summary: string | undefined;
    let requests = 0;
    if (whole) {
      requests++;
      try {
        summary = await this.summarise(whole);
      } catch (error) {
        if (!isModelError(error, 'prompt_too_long')) throw error;
        await this.learn(error, rawTokens(whole)); // then in chunks, under the window it said
      }
    }
    if (summary === undefined) {
      const input = this.budget().input / (state.calibration ?? 1);
      const fixed = rawTokens(agent.system) + 100;
      const chunks = transcriptChunks(events, current.from, to, chunkChars(input, fixed + rawTokens(state.compaction?.summary), maxTokens), sources.lookup);
      let soFar = state.compaction?.summary;
      for (const [index, chunk] of chunks.entries()) {
        requests++;
        // A chunk the model wrote nothing for leaves the summary so far as it was.
        soFar = (await this.summarise(chunkRequest({ model: this.modelId, system: agent.system ?? undefined }, chunk, index + 1, chunks.length, soFar, maxTokens))) ?? soFar;
      }
      if (soFar !== state.compaction?.summary) summary = soFar;
    }
    // No summary, nothing dropped: the request goes as it is (cut to fit, or refused and tried again).
    if (summary === undefined) return false;
    await this.deps.append([
      {
        type: 'agent.thread_context_compacted',
        payload: {
          pre_compaction_tokens: current.estimate,
          _oma: {
            summary,
            boundary_seq: boundary,
            first_event_id: events[current.from]?.id ?? null,
            last_event_id: events[to - 1]?.id ?? null,
            reason,
            requests,
          },
        },
      },
    ]);
    return true;
  }

  /**
   * One compaction request, recorded as a model request span marked as the brain's own; its text, or
   * undefined when it wrote none or refused.
   */
  private async summarise(request: ModelRequest): Promise<string | undefined> {
    const start: NewEvent = { id: newId('sevt'), type: 'span.model_request_start', payload: { _oma: { purpose: 'compaction' } } };
    await this.deps.append([start]);
    const own = { purpose: 'compaction', estimate: rawTokens(request) };
    const parts: string[] = [];
    try {
      const summary = await accumulate(this.deps.model.stream(request, { signal: this.deps.signal() }), {
        onBlock: (block) => void (block.type === 'text' && parts.push(block.text)),
      });
      if (summary.last?.block.type === 'text') parts.push(summary.last.block.text);
      await this.deps.append([requestEnd(start, false, summary.usage, summary.stopReason, own)]);
      const text = parts.join('\n').trim();
      return text === '' || summary.stopReason === 'refusal' ? undefined : text;
    } catch (error) {
      await this.deps.append([requestEnd(start, true, (error as { partialUsage?: ModelUsage }).partialUsage, undefined, own)]);
      throw error;
    }
  }

  /**
   * The model refused a request as too long: record the window it said it has (or, when it did not
   * say, one a fifth below the estimate of `raw` tokens, or below the current window) and its count. False once the refusals in a row used up
   * their attempts.
   */
  async refused(error: ModelError, raw?: number): Promise<boolean> {
    await this.learn(error, raw);
    return ++this.refusals < MAX_FIT_ATTEMPTS;
  }

  /** A request went through, or the turn ended: the refusals in a row start again from zero. */
  reset() {
    this.refusals = 0;
  }

  private async learn(error: ModelError, raw?: number) {
    const said = parseTooLong(error.message);
    const current = this.budget().window;
    const guess = Math.floor((raw === undefined ? current : calibrated(raw, this.deps.history.context.calibration)) * 0.8);
    const window = Math.max(1, Math.min(current, said.window ?? guess));
    const known = this.deps.learnedWindows.get(this.modelId);
    this.deps.learnedWindows.set(this.modelId, Math.min(known ?? Infinity, window)); // other sessions adopt it (adoptLearnedWindow)
    await this.deps.append([{ type: SPAN, payload: { name: WINDOW_SPAN, model: this.modelId, window, tokens: said.tokens ?? null, estimate: raw ?? null } }]);
  }
}
