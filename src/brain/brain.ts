import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { isOmaError } from '../errors.ts';
import type { Model } from '../model/interface.ts';
import type { SandboxProvider } from '../sandbox/interface.ts';
import type { SecretBox } from '../vaults/crypto.ts';
import type { SessionLog } from '../session/interface.ts';
import { claimWake, claimWakes, completeWake, releaseLease, renewLease, type Lease } from './lease.ts';
import { DEFAULT_BRAIN_OPTIONS, type BrainOptions } from './options.ts';
import type { Previews } from './previews.ts';
import type { SearchProvider } from './web.ts';
import type { AgentSnapshot } from './request.ts';
import { McpTools } from './mcp.ts';
import { sandboxRecipe, type EnvironmentConfig } from './recipe.ts';
import { toolCatalog } from './toolset.ts';
import { contextSettings, type ContextDefaults } from '../context/settings.ts';
import { isSelfHosted, SessionRun, type SessionFacts } from './run.ts';
import { ToolRouter } from './tools.ts';

export interface BrainDeps {
  db: Db;
  log: SessionLog;
  model: Model;
  sandboxes: SandboxProvider;
  /** Who holds leases (shown in `session_wakes.leased_by`). */
  owner: string;
  options?: Partial<BrainOptions>;
  previews?: Previews;
  /** Where web_search goes (none by default: it answers with a tool error saying so). */
  search?: SearchProvider;
  /** Opens vault credentials and repository tokens (none: sessions run without them). */
  secrets?: SecretBox;
  logger?: Logger;
}

/**
 * The harness. Stateless: `wake(sessionId)` claims the session's lease and rebuilds everything from
 * the log, so any brain in any process can continue any session from wherever the last one stopped.
 */
export class Brain {
  readonly options: BrainOptions;
  /** Windows models turned out to have (a "prompt is too long" answer says so): every session here uses them. */
  private readonly learnedWindows = new Map<string, number>();

  constructor(private readonly deps: BrainDeps) {
    this.options = { ...DEFAULT_BRAIN_OPTIONS, ...deps.options };
  }

  /** Run the session if its wake is due and free. False when there was nothing to claim. */
  async wake(sessionId: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const lease = await claimWake(this.deps.db, this.deps.owner, this.options.leaseTtlMs, sessionId);
    if (!lease) return false;
    await this.run(lease, options.signal);
    return true;
  }

  /** Claim the oldest due wakes of any sessions, up to `limit`. */
  claimNext(limit = 1): Promise<Lease[]> {
    return claimWakes(this.deps.db, this.deps.owner, this.options.leaseTtlMs, { limit });
  }

  /**
   * Work on a claimed session until nothing is left, renewing the lease meanwhile. `signal` (shutdown)
   * stops at the next safe point and hands the wake back unfinished.
   */
  async run(lease: Lease, signal?: AbortSignal): Promise<void> {
    const { db, logger } = this.deps;
    const lost = new AbortController();
    const stopping = signal ? AbortSignal.any([signal, lost.signal]) : lost.signal;
    const heartbeat = setInterval(() => {
      renewLease(db, lease, this.options.leaseTtlMs)
        .then((held) => held || lost.abort(new Error('lease lost')))
        .catch((error) => logger?.warn({ err: error, sessionId: lease.sessionId }, 'lease renewal failed'));
    }, this.options.leaseTtlMs / 3);
    heartbeat.unref();
    let tools: ToolRouter | undefined;
    let mcp: McpTools | undefined;
    let unsubscribe: AbortController | undefined;
    let active: SessionRun | undefined;
    try {
      const facts = await loadSession(db, lease.sessionId, this.options.context);
      if (!facts) {
        await completeWake(db, lease); // deleted meanwhile
        return;
      }
      const recipe = await sandboxRecipe({ ...this.deps, unrestricted: this.options.unrestrictedNetworking }, facts);
      tools = new ToolRouter(this.deps.sandboxes, recipe, {
        timeoutMs: this.options.toolTimeoutMs,
        maxOutputBytes: this.options.maxToolOutputBytes,
      });
      if (!isSelfHosted(facts) && [...toolCatalog(facts.agent).values()].some((entry) => entry.kind === 'toolset')) tools.prepare();
      const events = await this.deps.log.read(lease.sessionId);
      mcp = new McpTools(this.deps, facts, this.options.maxToolOutputBytes);
      const run = new SessionRun({ ...this.deps, tools, mcp: mcp.configured ? mcp : undefined, options: this.options, learnedWindows: this.learnedWindows }, facts, lease.generation, stopping, events);
      unsubscribe = this.watchInterrupts(lease.sessionId, run, stopping);
      active = run;
      if (lease.attempts > this.options.maxWakeAttempts) {
        // Every brain before this one died holding the session without getting anywhere: end the turn, say why.
        await run.fail(new Error(`its brain stopped ${lease.attempts - 1} times in a row without making progress (the process running it died each time); the turn was ended so that the session does not stay running`));
        if ((await completeWake(db, lease)) === 'again') await releaseLease(db, lease);
        return;
      }
      for (let first = true; ; first = false) {
        await run.untilDone({ fresh: first }); // the log was just read; later rounds catch up first
        if (stopping.aborted) break;
        const outcome = await completeWake(db, lease);
        if (outcome !== 'again') return;
      }
      if (signal?.aborted && !lost.signal.aborted) await releaseLease(db, lease);
    } catch (error) {
      if (isOmaError(error, 'stale_fence')) return; // another brain took over: it continues
      if (isOmaError(error, 'conflict') && error.details?.error_code === 'session_log_closed') {
        await completeWake(db, lease).catch(() => {}); // archived or deleted: nothing more to do
        return;
      }
      logger?.error({ err: error, sessionId: lease.sessionId }, 'brain failed');
      // A bug must not leave the session running forever, nor retry it forever: record it, go idle.
      try {
        await active?.fail(error);
        // Input that arrived meanwhile: hand the wake back so it runs at once, not after the lease expires.
        if ((await completeWake(db, lease)) === 'again') await releaseLease(db, lease);
      } catch (second) {
        logger?.error({ err: second, sessionId: lease.sessionId }, 'could not record the failure; the wake is retried when its lease expires');
      }
    } finally {
      clearInterval(heartbeat);
      unsubscribe?.abort();
      await tools?.dispose();
      await mcp?.close();
    }
  }

  /** Abort the in-flight step as soon as the log shows a `user.interrupt`. */
  private watchInterrupts(sessionId: string, run: SessionRun, stopping: AbortSignal): AbortController {
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, stopping]);
    void (async () => {
      for await (const event of this.deps.log.subscribe(sessionId, { afterSeq: run.history.lastSeq, signal })) {
        run.noticed(event.seq);
        if (event.type === 'user.interrupt') run.interrupt(event.id);
      }
    })().catch((error) => this.deps.logger?.warn({ err: error }, 'interrupt watch ended'));
    return controller;
  }
}

/** The session's row, its environment's config, and its agent version's metadata (context settings). */
async function loadSession(db: Db, id: string, defaults: ContextDefaults): Promise<SessionFacts | undefined> {
  const { rows } = await db.query<{
    id: string;
    workspace_id: string;
    environment_id: string;
    agent: AgentSnapshot;
    vault_ids: string[];
    environment: EnvironmentConfig | null;
    agent_metadata: Record<string, string> | null;
  }>(
    `SELECT s.id, s.workspace_id, s.environment_id, s.agent, s.vault_ids, e.config AS environment, v.config -> 'metadata' AS agent_metadata
       FROM sessions s
       LEFT JOIN environments e ON e.id = s.environment_id
       LEFT JOIN agent_versions v ON v.agent_id = s.agent ->> 'id' AND v.version = (s.agent ->> 'version')::integer
      WHERE s.id = $1`,
    [id],
  );
  const row = rows[0];
  return (
    row && {
      id: row.id,
      workspaceId: row.workspace_id,
      environmentId: row.environment_id,
      agent: row.agent,
      vaultIds: row.vault_ids ?? [],
      environment: row.environment ?? undefined,
      context: contextSettings(typeof row.agent.model === 'string' ? row.agent.model : row.agent.model.id, row.agent_metadata ?? undefined, defaults),
    }
  );
}
