import { DEFAULT_CONTEXT, type ContextDefaults } from '../context/settings.ts';

/** How brains behave; every value has an `OMA_*` variable (see `config.ts`). */
export interface BrainOptions {
  /** Tool calls one turn may make before it stops with `tool_use_limit_reached_error`. */
  maxToolCallsPerTurn: number;
  /** Model calls per step, counting the first, before a retryable failure ends the turn. */
  maxModelAttempts: number;
  /** Backoff before retry n is about `retryBaseMs * 2^(n-1)` (with jitter), at most `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** `max_tokens` of every model request. */
  maxTokens: number;
  /** A lease not renewed for this long may be taken over by another brain. */
  leaseTtlMs: number;
  /** Wall-clock limit of one tool call. */
  toolTimeoutMs: number;
  /** Tool output beyond this many bytes keeps its end, after a marker. */
  maxToolOutputBytes: number;
  /** Claims of a session in a row whose brain died without appending anything, before its turn is ended with an error. */
  maxWakeAttempts: number;
  /**
   * What an environment with `unrestricted` networking gets (`OMA_UNRESTRICTED_NETWORKING`): `none`
   * (the default: a sandbox has no network unless its environment lists hosts) or `public` (any
   * public host through the egress proxy; private and loopback addresses stay refused).
   */
  unrestrictedNetworking: 'none' | 'public';
  /** A self_hosted session's tool call unanswered by its worker this long becomes a tool error (`OMA_WORKER_TOOL_TIMEOUT_MS`). */
  workerToolTimeoutMs: number;
  /** Context strategy, window and compaction threshold of agents that do not set theirs (`OMA_CONTEXT_STRATEGY`, `OMA_CONTEXT_WINDOW`, `OMA_COMPACT_AT`). */
  context: ContextDefaults;
}

export const DEFAULT_BRAIN_OPTIONS: BrainOptions = {
  maxToolCallsPerTurn: 500,
  maxModelAttempts: 5,
  retryBaseMs: 1_000,
  retryMaxMs: 30_000,
  maxTokens: 16_384,
  leaseTtlMs: 15_000,
  toolTimeoutMs: 10 * 60_000,
  maxToolOutputBytes: 100 * 1024,
  maxWakeAttempts: 5,
  unrestrictedNetworking: 'none',
  workerToolTimeoutMs: 15 * 60_000,
  context: DEFAULT_CONTEXT,
};
