import { emptyUsage, type ModelUsage } from '../model/accumulate.ts';
import { ContextState, RESULT_REFERENCES } from '../context/state.ts';
import type { StoredEvent } from '../session/interface.ts';

/**
 * What the brain knows about a session, folded from its log and nothing else. `apply` takes events
 * in seq order; folding the same log always gives the same state, so a brain that starts on any
 * worker, at any point, decides exactly what the crashed one would have.
 */

/** Internal: "the brain took client event `event_id` at `processed_at`". Never shown to clients. */
export const PROCESSED = 'oma.processed';

/** Internal: a span of work outside a model request or a tool call (e.g. a sandbox disposed). Never shown to clients. */
export const SPAN = 'oma.span';

/** Client events that wait, unprocessed, until a brain takes them (decision 0006). */
export const QUEUED_TYPES = new Set(['user.message', 'user.interrupt', 'user.tool_confirmation', 'system.message']);

/** Private brain data inside a public event's payload (stripped from what clients see). */
export const PRIVATE_KEY = '_oma';

/**
 * Whether a `span.model_request_*` event belongs to a request the brain made to compact the context
 * (marked `_oma.purpose: "compaction"`): its usage counts, but it is no response of the conversation.
 */
export function isCompactionSpan(event: StoredEvent): boolean {
  return (event.payload[PRIVATE_KEY] as { purpose?: string } | undefined)?.purpose === 'compaction';
}

export type SessionStatus = 'idle' | 'running' | 'rescheduling' | 'terminated';

export interface ToolUse {
  event: StoredEvent;
  kind: 'toolset' | 'mcp' | 'custom';
  permission: 'allow' | 'ask' | 'deny' | undefined;
  /** The client's `user.tool_confirmation`, once sent. */
  confirmation?: StoredEvent;
  /** Whether a brain took that confirmation (and so ran, or refused, the tool). */
  confirmationTaken: boolean;
  /** The first result recorded for it (later answers are ignored). */
  result?: StoredEvent;
}

const USE_KINDS: Record<string, ToolUse['kind']> = { 'agent.tool_use': 'toolset', 'agent.custom_tool_use': 'custom', 'agent.mcp_tool_use': 'mcp' };

/** Whether a tool use may run: allowed by its policy, or by a confirmation a brain took. */
export function authorised(use: ToolUse): boolean {
  return use.permission === 'allow' || (use.confirmationTaken && use.confirmation?.payload.result === 'allow');
}

export class SessionHistory {
  readonly events: StoredEvent[] = [];
  readonly byId = new Map<string, StoredEvent>();
  lastSeq = 0;
  status: SessionStatus = 'idle';
  /** The stop reason of the newest `session.status_idle`. */
  lastStopReason: { type: string; event_ids?: string[] } | undefined;
  /** Client events no brain has taken yet, in log order. */
  readonly queued: StoredEvent[] = [];
  readonly processedAt = new Map<string, string>();
  readonly toolUses = new Map<string, ToolUse>();
  /** Tool uses since the current turn started (a turn ends at an idle other than `requires_action`). */
  turnToolCalls = 0;
  /** What the context strategies need to know of the log (compaction, what the model has seen, windows). */
  readonly context = new ContextState();
  /** Cumulative model usage over every model request. */
  readonly usage: ModelUsage = emptyUsage();
  /** Seconds spent running, up to the newest status change. */
  activeSeconds = 0;
  runningSince: Date | undefined;
  /** The `span.model_request_start` without an end yet (a brain died mid-request). */
  openRequest: StoredEvent | undefined;
  private openRequestToolUses = 0;
  /** Newest seq of something the model must still answer (a taken message, a tool result). */
  private inputSeq = 0;
  /** Newest seq up to which everything was answered (a complete response, or a turn that ended). */
  private answeredSeq = 0;
  /** Whether the newest complete response asked to be continued (`pause_turn`). */
  private continueResponse = false;

  /**
   * `workerTools`: names of the tools a worker outside oma runs (a self_hosted environment's sandbox
   * tools): their calls wait for the worker's `user.tool_result` like custom tools wait for the
   * client's, and a brain never runs or recovers them.
   */
  constructor(events: Iterable<StoredEvent> = [], private readonly options: { workerTools?: ReadonlySet<string> } = {}) {
    for (const event of events) this.apply(event);
  }

  /** Whether `use` is run by the session's worker (self_hosted), not by oma. */
  isWorkerCall(use: ToolUse): boolean {
    return use.kind === 'toolset' && (this.options.workerTools?.has(use.event.payload.name as string) ?? false);
  }

  apply(event: StoredEvent) {
    if (event.seq <= this.lastSeq) return; // already folded
    this.events.push(event);
    this.byId.set(event.id, event);
    this.lastSeq = event.seq;
    const compactionSpan = event.type.startsWith('span.model_request') && isCompactionSpan(event);
    this.context.apply(event, compactionSpan);
    const payload = event.payload;
    if (QUEUED_TYPES.has(event.type) && payload.processed_at === null && !this.processedAt.has(event.id)) this.queued.push(event);
    if (event.type === 'user.tool_confirmation') {
      const use = this.toolUses.get(payload.tool_use_id as string);
      if (use && !use.confirmation) use.confirmation = event;
    }
    const useKind = USE_KINDS[event.type];
    if (useKind) {
      this.toolUses.set(event.id, { event, kind: useKind, permission: payload.evaluated_permission as ToolUse['permission'], confirmationTaken: false });
      this.turnToolCalls++;
      if (this.openRequest) this.openRequestToolUses++;
      return;
    }
    if (event.type === 'user.define_outcome') this.inputSeq = event.seq; // starts work like a message (spec §5.5)
    const reference = RESULT_REFERENCES[event.type];
    if (reference) {
      const use = this.toolUses.get(payload[reference] as string);
      if (use && !use.result) {
        use.result = event;
        this.inputSeq = event.seq;
      }
      return;
    }
    if (compactionSpan) {
      this.addUsage(event);
      return;
    }
    switch (event.type) {
      case PROCESSED: {
        const id = payload.event_id as string;
        this.processedAt.set(id, payload.processed_at as string);
        const index = this.queued.findIndex((queued) => queued.id === id);
        const taken = index >= 0 ? this.queued.splice(index, 1)[0]! : this.byId.get(id);
        if (taken?.type === 'user.message' || taken?.type === 'system.message') this.inputSeq = event.seq;
        if (taken?.type === 'user.tool_confirmation') {
          const use = this.toolUses.get(taken.payload.tool_use_id as string);
          if (use) use.confirmationTaken = true;
        }
        break;
      }
      case 'span.model_request_start':
        this.openRequest = event;
        this.openRequestToolUses = 0;
        break;
      case 'span.model_request_end': {
        this.addUsage(event);
        // A response counts once it completed, or once it produced tool uses (which must be answered).
        if (payload.is_error !== true || this.openRequestToolUses > 0) {
          // The request saw everything before its start; what arrived while it streamed is still new.
          this.answeredSeq = Math.max(this.answeredSeq, this.openRequest?.seq ?? event.seq);
          this.continueResponse = (payload[PRIVATE_KEY] as { stop_reason?: string } | undefined)?.stop_reason === 'pause_turn';
        }
        this.openRequest = undefined;
        break;
      }
      case 'session.status_running':
        if (this.status !== 'running') this.runningSince ??= event.createdAt;
        this.status = 'running';
        break;
      case 'session.status_rescheduled':
        this.status = 'rescheduling';
        break;
      case 'session.status_idle': {
        this.status = 'idle';
        this.lastStopReason = payload.stop_reason as SessionHistory['lastStopReason'];
        if (this.runningSince) this.activeSeconds += Math.max(0, (event.createdAt.getTime() - this.runningSince.getTime()) / 1000);
        this.runningSince = undefined;
        if (this.lastStopReason?.type !== 'requires_action') {
          // The turn is over, whatever it left unanswered.
          this.turnToolCalls = 0;
          this.answeredSeq = event.seq;
          this.continueResponse = false;
        }
        break;
      }
      case 'session.status_terminated':
        this.status = 'terminated';
        break;
    }
  }

  private addUsage(event: StoredEvent) {
    const modelUsage = event.payload.model_usage as Partial<ModelUsage> | undefined;
    for (const key of Object.keys(this.usage) as (keyof ModelUsage)[]) this.usage[key] += modelUsage?.[key] ?? 0;
  }

  /** Tool uses waiting for the client: a confirmation (`ask`), a custom tool's result, or a worker's result (self_hosted). */
  awaitingClient(): ToolUse[] {
    return [...this.toolUses.values()].filter(
      (use) =>
        !use.result &&
        (use.kind === 'custom' ||
          (use.permission === 'ask' && !use.confirmation) ||
          (this.isWorkerCall(use) && authorised(use))),
    );
  }

  /**
   * Sandbox and MCP tool calls that were authorised (by policy, or by a confirmation a brain took)
   * but have no result: a brain died while running them, or just before.
   */
  unfinished(): ToolUse[] {
    return [...this.toolUses.values()].filter(
      (use) => !use.result && use.kind !== 'custom' && !this.isWorkerCall(use) && authorised(use),
    );
  }

  /** Tool uses with no result at all, of any kind (closed with errors on interrupt). */
  unanswered(): ToolUse[] {
    return [...this.toolUses.values()].filter((use) => !use.result);
  }

  /** Whether the model has something new to answer. */
  needsModel(): boolean {
    return this.inputSeq > this.answeredSeq || this.continueResponse;
  }

  queuedOf(...types: string[]): StoredEvent[] {
    return this.queued.filter((event) => types.includes(event.type));
  }
}
