import type { StoredEvent } from '../session/interface.ts';

/**
 * What the context strategies need to know about a session, folded from its log (by
 * `SessionHistory`): the newest compaction, how far the model has seen the conversation, where a
 * compaction may cut it, the windows models turned out to have, and how well token estimates
 * matched the model's own counts. Like the history, the same log always folds to the same state.
 */

/** `oma.span` name: a model refused a prompt as too long and said its real window. */
export const WINDOW_SPAN = 'context.window';

export interface CompactionMark {
  /** The `agent.thread_context_compacted` event. */
  eventId: string;
  summary: string;
  /** Events before this seq are covered by the summary; the view goes on verbatim from it. */
  boundarySeq: number;
}

const USES = new Set(['agent.tool_use', 'agent.custom_tool_use', 'agent.mcp_tool_use']);
/** Result event type → the payload field naming the tool use it answers (the history folds with it too). */
export const RESULT_REFERENCES: Record<string, string> = {
  'agent.tool_result': 'tool_use_id',
  'user.tool_result': 'tool_use_id',
  'user.custom_tool_result': 'custom_tool_use_id',
  'agent.mcp_tool_result': 'mcp_tool_use_id',
};

export class ContextState {
  compaction: CompactionMark | undefined;
  /** Seq of the newest conversation request the model answered: everything before it reached the model. */
  seenSeq = 0;
  /** Seqs of conversation request starts at which no tool use was open: where a compaction may cut. */
  readonly cleanStarts: number[] = [];
  /** Model id → the window it said it has (the smallest, when it said several). */
  readonly learnedWindows = new Map<string, number>();
  /** Client messages taken into the conversation → the seq of the marker that took them (their place in it). */
  readonly takenAt = new Map<string, number>();
  /** Events a request the model answered showed cut to fit, and to how many raw tokens. */
  readonly cuts = new Map<string, number>();
  /** The model's token counts over oma's raw estimates (recent requests weigh most); undefined until known. */
  calibration: number | undefined;
  private readonly open = new Set<string>();
  /** Request start id → its seq, until its end (whose `_oma.estimate` is the request's raw estimate). */
  private readonly starts = new Map<string, { seq: number; compaction: boolean }>();

  apply(event: StoredEvent, compactionSpan: boolean) {
    const payload = event.payload;
    const own = (payload._oma ?? {}) as Record<string, unknown>;
    if (USES.has(event.type)) {
      this.open.add(event.id);
      return;
    }
    const reference = RESULT_REFERENCES[event.type];
    if (reference) {
      this.open.delete(payload[reference] as string);
      return;
    }
    switch (event.type) {
      case 'span.model_request_start':
        this.starts.set(event.id, { seq: event.seq, compaction: compactionSpan });
        if (!compactionSpan && this.open.size === 0) this.cleanStarts.push(event.seq);
        break;
      case 'span.model_request_end': {
        const start = this.starts.get(payload.model_request_start_id as string);
        this.starts.delete(payload.model_request_start_id as string);
        if (!start || payload.is_error === true) break;
        if (!start.compaction) this.seenSeq = Math.max(this.seenSeq, start.seq);
        const cut = own.cut as { cap: number; events: string[] } | undefined;
        for (const id of cut?.events ?? []) this.cuts.set(id, Math.min(this.cuts.get(id) ?? Infinity, cut!.cap));
        const usage = (payload.model_usage ?? {}) as Record<string, number>;
        const actual = (usage.input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0);
        const estimate = own.estimate as number | undefined;
        if (estimate && actual > 0) this.calibrate(actual / estimate);
        break;
      }
      case 'agent.thread_context_compacted':
        if (typeof own.summary === 'string' && typeof own.boundary_seq === 'number') {
          this.compaction = { eventId: event.id, summary: own.summary, boundarySeq: own.boundary_seq };
        }
        break;
      case 'oma.processed':
        if (!this.takenAt.has(payload.event_id as string)) this.takenAt.set(payload.event_id as string, event.seq);
        break;
      case 'oma.span':
        if (payload.name === WINDOW_SPAN && typeof payload.model === 'string' && typeof payload.window === 'number') {
          const known = this.learnedWindows.get(payload.model);
          this.learnedWindows.set(payload.model, Math.min(known ?? Infinity, payload.window));
          if (typeof payload.tokens === 'number' && typeof payload.estimate === 'number' && payload.estimate > 0) this.calibrate(payload.tokens / payload.estimate);
        }
        break;
    }
  }

  /** Where an event is in the conversation: a client message where it was taken (undefined before), anything else where it was logged. */
  positionOf(event: StoredEvent): number | undefined {
    return event.type === 'user.message' || event.type === 'system.message' ? this.takenAt.get(event.id) : event.seq;
  }

  private calibrate(ratio: number) {
    // Bounded: one odd answer must not make every later estimate absurd.
    const bounded = Math.min(4, Math.max(0.25, ratio));
    this.calibration = this.calibration === undefined ? bounded : 0.5 * this.calibration + 0.5 * bounded;
  }
}
