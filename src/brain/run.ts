import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { newId } from '../ids.ts';
import { accumulate, type ModelUsage, type ResponseSummary } from '../model/accumulate.ts';
import { isModelError, type ModelError } from '../model/errors.ts';
import type { Model } from '../model/interface.ts';
import type { NewEvent, SessionLog, StoredEvent } from '../session/interface.ts';
import { decide, type Step } from './decide.ts';
import { denialReason, requestEnd, responseEvent, sessionError, taken, toolResultEvent, usagePayload } from './event-builders.ts';
import { SessionHistory, type ToolUse } from './history.ts';
import type { BrainOptions } from './options.ts';
import type { Previews } from './previews.ts';
import { answerMcpCall, type McpTools } from './mcp.ts';
import type { EnvironmentConfig } from './recipe.ts';
import { ConversationFiles, type AgentSnapshot } from './request.ts';
import { ContextKeeper, MAX_FIT_ATTEMPTS } from './context.ts';
import type { ContextSettings } from '../context/settings.ts';
import { readSessionLog, SESSION_LOG_TOOL } from './session-log-tool.ts';
import { IDEMPOTENT_TOOLS, SANDBOX_TOOLS, toolCatalog, type ToolEntry } from './toolset.ts';
import type { ToolOutcome, ToolRouter } from './tools.ts';
import { runHostTool, type SearchProvider } from './web.ts';
import { ensureWorkItem } from '../work/store.ts';

/** A self_hosted environment's sandbox tools run on the user's worker, not here. */
export const isSelfHosted = (session: SessionFacts) => session.environment?.type === 'self_hosted';

/** What a run needs from the session's row. */
export interface SessionFacts {
  id: string;
  workspaceId: string;
  environmentId: string;
  agent: AgentSnapshot;
  /** The session's vaults, in priority order (credentials for its MCP servers). */
  vaultIds: string[];
  /** Its environment's config as it is now (its kind, packages and networking); absent if deleted. */
  environment?: EnvironmentConfig;
  /** How its context is kept in the model's window (its agent's metadata over the server's defaults). */
  context: ContextSettings;
}

export interface RunDeps {
  db: Db;
  log: SessionLog;
  model: Model;
  tools: ToolRouter;
  /** The agent's MCP servers for this run (absent: the agent has none). */
  mcp?: McpTools;
  options: BrainOptions;
  previews?: Previews;
  /** Where web_search goes; none: it answers with a tool error saying so. */
  search?: SearchProvider;
  /** Windows models turned out to have, shared by the runs of this process. */
  learnedWindows?: Map<string, number>;
  logger?: Logger;
}

const MODEL_ERROR_TYPES: Partial<Record<ModelError['kind'], string>> = { rate_limited: 'model_rate_limited_error', overloaded: 'model_overloaded_error' };

/**
 * One brain's work on one session while it holds the lease: fold the log, decide, perform, repeat.
 * Every append carries the lease generation as its fence. `interrupted` is aborted when a
 * `user.interrupt` arrives; `stopping` when the lease is lost or the process shuts down.
 */
export class SessionRun {
  readonly history: SessionHistory;
  private readonly catalog: Map<string, ToolEntry>;
  private interruption = new AbortController();
  private modelFailures = 0;
  /** Builds each request's view of the log, compacts, recovers from prompts refused as too long. */
  private readonly context: ContextKeeper;
  /** File contents inlined into requests, read once per wake. */
  private readonly files: ConversationFiles;

  constructor(
    private readonly deps: RunDeps,
    private readonly session: SessionFacts,
    private readonly fence: number,
    private readonly stopping: AbortSignal,
    events: StoredEvent[],
  ) {
    this.history = new SessionHistory(events, { workerTools: isSelfHosted(session) ? new Set(SANDBOX_TOOLS) : undefined });
    this.catalog = toolCatalog(session.agent, { sessionLogTool: session.context.sessionLogTool });
    this.files = new ConversationFiles(deps.db, session, deps.logger);
    this.context = new ContextKeeper({
      model: deps.model,
      history: this.history,
      agent: session.agent,
      settings: session.context,
      maxTokens: deps.options.maxTokens,
      learnedWindows: deps.learnedWindows ?? new Map(),
      append: (events) => this.append(events),
      signal: () => this.signal(),
    });
  }

  /** `user.interrupt` `eventId` was appended: abort whatever is in flight, unless it was already applied. */
  interrupt(eventId: string) {
    if (!this.history.processedAt.has(eventId)) this.interruption.abort(new Error('interrupted'));
  }

  /** The newest seq the log is known to have (the interrupt watch sees every event). */
  private knownLastSeq = 0;

  /** The log has an event at `seq` (told by the brain's subscription). */
  noticed(seq: number) {
    this.knownLastSeq = Math.max(this.knownLastSeq, seq);
  }

  /**
   * Perform steps until there is nothing left to do, or the run must stop. The log is read again
   * first, and then whenever someone else appended (between steps, only new events can matter; the
   * caller runs this again when a wake was requested meanwhile).
   */
  async untilDone(options: { fresh?: boolean } = {}): Promise<void> {
    let fresh = options.fresh ?? false;
    for (;;) {
      if (this.stopping.aborted) return;
      if (!fresh || this.knownLastSeq > this.history.lastSeq) await this.catchUp();
      fresh = true;
      // An abort with no interrupt left to apply is stale (its interrupt was applied meanwhile).
      if (this.interruption.signal.aborted && this.history.queuedOf('user.interrupt').length === 0) this.interruption = new AbortController();
      const step = decide(this.history);
      if (step.type === 'done') return;
      await this.perform(step);
    }
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.interruption.signal, this.stopping]);
  }

  private async perform(step: Exclude<Step, { type: 'done' }>) {
    switch (step.type) {
      case 'interrupt':
        return this.applyInterrupts(step.interrupts);
      case 'recover':
        return this.recover(step.uses);
      case 'requires_action':
        return this.idle({ type: 'requires_action', event_ids: step.eventIds });
      case 'confirm':
        return this.confirm(step.confirmations);
      case 'model':
        return this.callModel(step.take);
      case 'end_turn':
        return this.idle({ type: 'end_turn' });
    }
  }

  /** Record an unexpected failure of the brain itself and end the turn cleanly. */
  async fail(error: unknown) {
    await this.catchUp();
    const message = `The agent server failed while running this session: ${error instanceof Error ? error.message : String(error)}`;
    await this.append([...this.history.unanswered().map((use) => this.toolResult(use.event.id, message, true)), sessionError('unknown_error', message, 'exhausted')]);
    await this.idle({ type: 'retries_exhausted' });
  }

  // ---- steps ----

  private async applyInterrupts(interrupts: StoredEvent[]) {
    const events = [...interrupts, ...this.history.queuedOf('user.tool_confirmation')].map((event) => taken(event));
    for (const use of this.history.unanswered()) events.push(this.toolResult(use.event.id, 'Interrupted by the user before this tool call finished.', true));
    const wasBusy = this.history.status !== 'idle' || this.history.lastStopReason?.type === 'requires_action';
    await this.append(events);
    this.interruption = new AbortController();
    this.modelFailures = 0;
    this.context.reset();
    if (wasBusy) await this.idle({ type: 'end_turn' });
  }

  private async recover(uses: ToolUse[]) {
    await this.ensureRunning([]);
    // Only the toolset's reads are safe to run twice; an MCP tool may do anything.
    const rerun = uses.filter((use) => use.kind === 'toolset' && IDEMPOTENT_TOOLS.has(use.event.payload.name as string));
    const reported = uses.filter((use) => !rerun.includes(use));
    if (reported.length > 0) {
      const message = 'This tool call was cut off by a restart of the agent server before its result was recorded. It may or may not have run: check its effects before repeating it.';
      await this.append(reported.map((use) => this.toolResult(use.event.id, message, true)));
    }
    await this.runTools(rerun);
  }

  private async confirm(confirmations: StoredEvent[]) {
    const events: NewEvent[] = [];
    const allowed: ToolUse[] = [];
    for (const confirmation of confirmations) {
      events.push(taken(confirmation));
      const use = this.history.toolUses.get(confirmation.payload.tool_use_id as string);
      if (!use || use.result) continue; // closed meanwhile (an interrupt)
      if (confirmation.payload.result === 'allow') allowed.push(use);
      else {
        const reason = (confirmation.payload.deny_message as string | undefined) || 'The user denied this tool call.';
        events.push(this.toolResult(use.event.id, reason, true));
      }
    }
    await this.ensureRunning(events);
    // A worker's call, once allowed, is the worker's to run (it sees the confirmation on the stream).
    await this.runTools(allowed.filter((use) => !this.history.isWorkerCall(use)));
  }

  private async callModel(take: StoredEvent[]) {
    await this.context.adoptLearnedWindow();
    const sources = { catalog: this.catalog, files: await this.files.load(this.history.events), lookup: (id: string) => this.history.byId.get(id) };
    const compaction = await this.context.needsCompaction(sources, take);
    if (compaction) {
      // The messages are taken first: the summary covers what the model saw, and they come after it.
      await this.ensureRunning(take.map((event) => taken(event)));
      take = [];
      await this.loadMcpTools();
      try {
        await this.context.compact(compaction, sources);
      } catch (error) {
        // A refusal of a compaction request counts like any refusal (modelFailed); the window was learned.
        if (!isModelError(error)) throw error;
        return this.modelFailed(error);
      }
    }
    const start: NewEvent = { id: newId('sevt'), type: 'span.model_request_start', payload: {} };
    await this.ensureRunning([...take.map((event) => taken(event)), start]);
    await this.loadMcpTools();
    const view = this.context.view(sources);
    const request = view.request;
    const own = { estimate: view.raw, ...(view.cut && { cut: view.cut }) };
    const signal = this.signal();
    const uses: string[] = [];
    const previewIds = new Map<number, string>();
    const startSeq = this.history.byId.get(start.id!)?.seq ?? this.history.lastSeq;
    let summary: ResponseSummary;
    try {
      summary = await accumulate(this.deps.model.stream(request, { signal }), {
        onBlockStart: (index, type) => {
          if (type !== 'text' && type !== 'thinking') return;
          const id = newId('sevt');
          previewIds.set(index, id);
          this.deps.previews?.publish(this.session.id, { type: 'event_start', event: { type: type === 'text' ? 'agent.message' : 'agent.thinking', id } }, startSeq);
        },
        onTextDelta: (index, delta) => {
          const id = previewIds.get(index);
          if (id) this.deps.previews?.publish(this.session.id, { type: 'event_delta', event_id: id, delta: { type: 'content_delta', index: 0, content: { type: 'text', text: delta } } }, startSeq);
        },
        onBlock: async (block, index) => {
          if (block.type === 'text' && block.text === '') return; // nothing to show, and the API refuses it back
          const event = responseEvent(block, this.catalog, previewIds.get(index));
          await this.append([event]);
          if (block.type === 'tool_use') uses.push(event.id!);
        },
      });
    } catch (error) {
      if (!isModelError(error)) throw error;
      await this.append([requestEnd(start, true, (error as { partialUsage?: ModelUsage }).partialUsage, undefined, own)]);
      // A response cut off (not aborted) after it asked for tools is answered like a whole one; after an
      // interrupt its calls are closed unrun by the interrupt step.
      if (uses.length > 0 && error.kind !== 'aborted') return this.afterResponse(uses, null);
      return this.modelFailed(error, view.raw);
    }
    this.context.reset();
    // The last block and the end of the response: one write.
    const last = summary.last && (summary.last.block.type !== 'text' || summary.last.block.text !== '') ? responseEvent(summary.last.block, this.catalog, previewIds.get(summary.last.index)) : undefined;
    if (last && summary.last!.block.type === 'tool_use') uses.push(last.id!);
    await this.append([...(last ? [last] : []), requestEnd(start, false, summary.usage, summary.stopReason, own)]);
    await this.afterResponse(uses, summary.stopReason);
  }

  private async afterResponse(useIds: string[], stopReason: string | null) {
    const uses = useIds.map((id) => this.history.toolUses.get(id)!);
    if (this.history.turnToolCalls > this.deps.options.maxToolCallsPerTurn) {
      const limit = this.deps.options.maxToolCallsPerTurn;
      const message = `This turn reached its limit of ${limit} tool calls.`;
      await this.append([
        ...uses.map((use) => this.toolResult(use.event.id, `Not run: ${message}`, true)),
        sessionError('tool_use_limit_reached_error', message, 'exhausted'),
      ]);
      return this.idle({ type: 'retries_exhausted' });
    }
    const denied = uses.filter((use) => use.permission === 'deny');
    if (denied.length > 0) {
      await this.append(denied.map((use) => this.toolResult(use.event.id, denialReason(use, this.catalog), true)));
    }
    await this.runTools(uses.filter((use) => use.kind !== 'custom' && use.permission === 'allow' && !this.history.isWorkerCall(use)));
    if (stopReason === 'refusal' && uses.length === 0) {
      await this.idle({ type: 'refusal' }, { type: 'refusal', category: null, explanation: null });
    }
  }

  private async modelFailed(error: ModelError, raw?: number) {
    if (error.kind === 'aborted') return; // an interrupt or a shutdown: the next step handles it
    if (error.kind === 'prompt_too_long') {
      // The next step compacts under the window the model said it has, or cuts what it has not seen.
      if (await this.context.refused(error, raw)) return;
      const message = `The model refused the conversation as too long ${MAX_FIT_ATTEMPTS} times in a row, even after compacting it: ${error.message}`;
      return this.endTurnFailed('compaction_limit_reached_error', message);
    }
    const type = MODEL_ERROR_TYPES[error.kind] ?? 'model_request_failed_error';
    this.modelFailures++;
    const { maxModelAttempts, retryBaseMs, retryMaxMs } = this.deps.options;
    if (error.retryable && this.modelFailures < maxModelAttempts) {
      await this.append([sessionError(type, error.message, 'retrying'), { type: 'session.status_rescheduled', payload: {} }]);
      await this.syncRow();
      const backoff = Math.min(retryMaxMs, retryBaseMs * 2 ** (this.modelFailures - 1)) * (0.5 + Math.random() / 2);
      // The server's retry-after wins over our backoff (up to 10 minutes).
      const delay = Math.max(Math.min(error.retryAfterMs ?? 0, 600_000), backoff);
      await sleep(delay, undefined, { signal: this.signal() }).catch(() => {});
      return;
    }
    return this.endTurnFailed(type, error.message);
  }

  /** The turn cannot go on: flush the inputs queued behind it (kept in history, not answered), say why, go idle. */
  private async endTurnFailed(type: string, message: string) {
    this.modelFailures = 0;
    this.context.reset();
    const flushed = this.history.queuedOf('user.message', 'system.message').map((event) => taken(event));
    await this.append([...flushed, sessionError(type, message, 'exhausted')]);
    await this.idle({ type: 'retries_exhausted' });
  }

  private async runTools(uses: ToolUse[]) {
    const signal = this.signal();
    await Promise.all(
      uses.map(async (use) => {
        const name = use.event.payload.name as string;
        const input = use.event.payload.input as Record<string, unknown>;
        const entry = this.catalog.get(name);
        if (use.kind === 'mcp') return this.runMcpTool(use, signal);
        const outcome =
          entry?.kind !== 'host'
            ? await this.deps.tools.execute(name, input, signal)
            : name === SESSION_LOG_TOOL
              ? { ...readSessionLog(this.history.events, input), trace: { sandbox: 'host', executeMs: 0 } }
              : await runHostTool(name, input, entry.config ?? {}, this.deps.search, signal);
        // Cut by a shutdown: record nothing; the next brain recovers the call (decide: recover).
        if (this.stopping.aborted && !this.interruption.signal.aborted) return;
        await this.append([this.toolResult(use.event.id, outcome.text, outcome.isError, outcome.trace)]);
      }),
    );
  }

  /** The MCP servers' tools, listed once per run; a server that could not be listed is reported, its tools left out. */
  private async loadMcpTools() {
    if (this.deps.mcp?.configured) await this.append(await this.deps.mcp.load(this.catalog, this.signal()));
  }

  private async runMcpTool(use: ToolUse, signal: AbortSignal) {
    await this.loadMcpTools(); // a confirmed call may be this run's first step
    const events = await answerMcpCall(this.deps.mcp, use.event, this.catalog, signal);
    if (this.stopping.aborted && !this.interruption.signal.aborted) return; // cut by a shutdown: recovered by the next brain
    await this.append(events);
  }

  private async idle(stopReason: { type: string; event_ids?: string[] }, stopDetails: Record<string, unknown> | null = null) {
    const usage = usagePayload(this.history);
    // The row first: whoever sees the idle event and then reads the session must find it idle.
    await this.syncRow('idle', usage);
    await this.append([{ type: 'session.usage', payload: { usage } }, { type: 'session.status_idle', payload: { stop_reason: stopReason, stop_details: stopDetails } }]);
    this.modelFailures = 0;
    // Waiting on its worker's calls: a self_hosted session needs a live work item (its last may have just ended).
    if (isSelfHosted(this.session) && stopReason.type === 'requires_action') {
      await ensureWorkItem(this.deps.db, { id: this.session.id, workspaceId: this.session.workspaceId, environmentId: this.session.environmentId });
    }
  }

  // ---- events ----

  /** Append `events`, first `session.status_running` when the session is not running. */
  private async ensureRunning(events: NewEvent[]) {
    const starting = this.history.status !== 'running';
    await this.append(starting ? [{ type: 'session.status_running', payload: {} }, ...events] : events);
    // The row follows the log; nothing in this turn waits for it (idle does, before it is recorded).
    if (starting) this.rowWrite = this.syncRow().catch((error) => this.deps.logger?.warn({ err: error, sessionId: this.session.id }, 'session row update failed'));
  }

  private rowWrite: Promise<void> | undefined;

  private toolResult(useId: string, output: string, isError: boolean, trace?: ToolOutcome['trace']): NewEvent {
    return toolResultEvent(this.history, useId, output, isError, trace);
  }

  /** Append under the lease's fence and fold the result (reading back only if others appended meanwhile). */
  private async append(events: NewEvent[]) {
    if (events.length === 0) return;
    const withIds = events.map((event) => ({ ...event, id: event.id ?? newId('sevt'), payload: event.payload ?? {} }));
    const lastSeq = await this.deps.log.append(this.session.id, withIds, { fence: this.fence });
    if (lastSeq !== this.history.lastSeq + withIds.length) return this.catchUp();
    const createdAt = new Date();
    withIds.forEach((event, index) => this.history.apply({ ...event, sessionId: this.session.id, seq: lastSeq - withIds.length + 1 + index, createdAt }));
  }

  async catchUp() {
    for (const event of await this.deps.log.read(this.session.id, { afterSeq: this.history.lastSeq })) this.history.apply(event);
  }

  /** The session row mirrors the log: status, usage, active time. */
  private async syncRow(status = this.history.status, usage = usagePayload(this.history)) {
    await this.rowWrite; // in order: a late 'running' must not overwrite 'idle'
    const { active_seconds: activeSeconds, ...rest } = usage;
    await this.deps.db.query(
      `UPDATE sessions SET status = $2, usage = $3::jsonb, active_seconds = $4, updated_at = now() WHERE id = $1 AND status <> 'terminated'`,
      [this.session.id, status, JSON.stringify(rest), activeSeconds],
    );
  }
}
