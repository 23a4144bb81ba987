import { PRIVATE_KEY, SessionHistory } from '../brain/history.ts';
import type { AgentSnapshot } from '../brain/request.ts';
import type { ModelRequest } from '../model/interface.ts';
import type { StoredEvent } from '../session/interface.ts';
import { compactableTokens, compactionBoundary, compactionReason, summaryTokens, wholeCompaction } from './compaction.ts';
import type { StrategyName } from './settings.ts';
import { calibrated, rawTokens } from './tokens.ts';
import { budgetFor, buildView, indexOfSeq, newViewMemo } from './view.ts';

/**
 * A strategy replayed over a recorded session: at every model request of the recording, the request
 * the strategy would have sent instead, compacting where it would have (with a stand-in summary of
 * a fixed size, since no model writes one here). Used to test strategies on recorded logs and to
 * compare them (bench/context.ts). Pure but for `send`.
 */

export interface RecordedSession {
  agent: AgentSnapshot;
  events: StoredEvent[];
}

export interface ReplayOptions {
  strategy: StrategyName;
  window: number;
  maxTokens: number;
  compactAt?: number;
  /** Length of the stand-in summaries, in characters (default 4,000). */
  summaryChars?: number;
  /** Every request the strategy sends, in order, compaction requests included. */
  send?: (request: ModelRequest, kind: 'turn' | 'compaction') => void | Promise<void>;
}

export interface ReplayedRequest {
  kind: 'turn' | 'compaction';
  request: ModelRequest;
  /** Raw token estimate (context/tokens.ts). */
  raw: number;
  /** Seq of the recorded request start it stands for (or precedes, for a compaction). */
  atSeq: number;
}

export async function replay(session: RecordedSession, options: ReplayOptions): Promise<{ requests: ReplayedRequest[]; history: SessionHistory }> {
  const history = new SessionHistory();
  const memo = newViewMemo();
  const requests: ReplayedRequest[] = [];
  const budget = budgetFor(options.window, options.maxTokens, options.compactAt ?? 0.8);
  const view = (fit: boolean) => buildView({ events: history.events, state: history.context, agent: session.agent, strategy: options.strategy, budget, logTool: false, memo, fit });
  const send = async (kind: ReplayedRequest['kind'], request: ModelRequest, atSeq: number) => {
    requests.push({ kind, request, raw: rawTokens(request), atSeq });
    await options.send?.(request, kind);
  };
  let synthetic = 0;
  const apply = (type: string, payload: Record<string, unknown>) => {
    const id = `sevt_replay${++synthetic}`;
    history.apply({ sessionId: 'replay', seq: history.lastSeq + 0.001, id, type, payload, createdAt: new Date(0) });
    return id;
  };
  for (const event of session.events) {
    const isTurnStart = event.type === 'span.model_request_start' && (event.payload[PRIVATE_KEY] as { purpose?: string } | undefined)?.purpose !== 'compaction';
    if (isTurnStart) {
      const boundary = compactionBoundary(history.context);
      const current = view(false);
      const compactable = boundary === undefined ? 0 : calibrated(compactableTokens(history.events, current.from, boundary, history.context, memo.sizes), history.context.calibration);
      const decision = boundary === undefined ? undefined : compactionReason(current.estimate, compactable, budget, options.strategy);
      if (boundary !== undefined && decision) {
        const to = indexOfSeq(history.events, boundary);
        const request = wholeCompaction({ events: history.events, state: history.context, agent: session.agent, strategy: options.strategy, budget, logTool: false }, to, summaryTokens(budget.window, budget.maxTokens), memo.sizes);
        // (A recording too large for one compaction request would be summarised in chunks; one stands for them here.)
        if (request) await send('compaction', request, event.seq);
        const start = apply('span.model_request_start', { [PRIVATE_KEY]: { purpose: 'compaction' } });
        apply('span.model_request_end', { model_request_start_id: start, is_error: false, model_usage: { input_tokens: request ? rawTokens(request) : 0, output_tokens: 0 }, [PRIVATE_KEY]: { purpose: 'compaction' } });
        const summary = `Stand-in summary of the events before seq ${boundary}. `.padEnd(options.summaryChars ?? 4_000, '.');
        apply('agent.thread_context_compacted', { pre_compaction_tokens: 0, [PRIVATE_KEY]: { summary, boundary_seq: boundary, reason: decision.reason } });
      }
      await send('turn', view(true).request, event.seq);
    }
    if (event.type === 'agent.thread_context_compacted') continue; // the recording's own compactions: the strategy decides afresh
    history.apply(event);
  }
  return { requests, history };
}
