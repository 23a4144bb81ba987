/**
 * The session log: the durable, append-only record of everything that happened in a session. It is
 * the only state of a session that must survive; brains rebuild everything else from it.
 *
 * Invariants every implementation keeps (checked by `describeSessionLogConformance`):
 * - Per session, `seq` starts at 1 and is gapless and strictly increasing in append order. Sessions
 *   are independent: appends to one never change another's seqs.
 * - An event never changes once appended, and is never removed (`id`, `seq`, `createdAt`, payload).
 * - `createdAt` never decreases along `seq` within a session.
 * - An append is atomic: all of its events are stored with consecutive seqs, or none is.
 * - A closed log (see `AppendOptions.close`) never takes another event.
 */

/** What a caller appends. */
export interface NewEvent {
  /** Event type, e.g. `user.message`, `agent.tool_use`, `span.model_request_end`. */
  type: string;
  /** JSON-serialisable body (everything but `id`, `type` and the timestamps). */
  payload?: Record<string, unknown>;
  /**
   * Public id, `sevt_…`. Assigned by the log when omitted. A caller may pre-assign one (e.g. to echo
   * it to a client before the append returns); ids are unique across all sessions, and an append
   * that repeats an existing id fails as a whole.
   */
  id?: string;
}

/** What the log returns. */
export interface StoredEvent {
  sessionId: string;
  seq: number;
  id: string;
  type: string;
  payload: Record<string, unknown>;
  /** When the event was appended (the log's clock, ms precision or better). */
  createdAt: Date;
}

export interface AppendOptions {
  /**
   * Append only if the session's last seq is exactly this (0 for an empty session). Otherwise
   * nothing is written and the append rejects with `OmaError` code `stale_seq`
   * (`details.last_seq` holds the actual last seq). Of N concurrent appends at one expected seq,
   * exactly one succeeds.
   */
  expectedSeq?: number;
  /**
   * The writer's lease generation (fencing token). Rejected with `OmaError` code `stale_fence`
   * (`details.fence` holds the current generation) when a higher generation has already been
   * recorded for this session, by an earlier fenced append or by whoever hands out leases. An accepted
   * fence becomes the session's current generation, so a superseded writer stays locked out.
   */
  fence?: number;
  /**
   * Make these the last events of the session: the append and the closing are one atomic step, and
   * every later append rejects with `OmaError` `conflict` (`details.error_code: session_log_closed`),
   * so nothing can land after a terminal event (archive, delete, termination). Appending to a closed
   * log, `close` or not, is rejected the same way.
   */
  close?: boolean;
  /**
   * Also request the session's brain (its `session_wakes` row, and a notification to every process
   * on PostgreSQL) in the same transaction as the append: client input is never in the log without a
   * wake, whatever dies when. Such an append is committed on its own, not grouped with others. The
   * in-memory log has no brains and ignores it.
   */
  wake?: boolean;
}

export interface ReadOptions {
  /** Only events with `seq > afterSeq`. */
  afterSeq?: number;
  /** Only events with `seq < beforeSeq`. */
  beforeSeq?: number;
  /** At most this many events; with `order: 'desc'` they are the newest of the range. */
  limit?: number;
  /** By seq; default `asc`. */
  order?: 'asc' | 'desc';
}

export interface SubscribeOptions {
  /** Deliver events with `seq > afterSeq` (default 0: from the beginning). */
  afterSeq?: number;
  /** Ends the iteration (without an error) when aborted. */
  signal?: AbortSignal;
}

export interface SessionLog {
  /**
   * Append `events` (at least one) to the end of the session's log; the session's log starts on its
   * first append. Resolves to the seq of the last event appended, once it is committed: on
   * PostgreSQL flushed to disk; on embedded PGlite (which runs with fsync off) safe from a crash of
   * the oma process but not from a power loss. Rejects with
   * `OmaError` `stale_seq` / `stale_fence` as described in `AppendOptions`, with nothing written.
   */
  append(sessionId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<number>;

  /** A positional slice of the log. An unknown session reads as empty. */
  read(sessionId: string, options?: ReadOptions): Promise<StoredEvent[]>;

  /**
   * Every event with `seq > afterSeq`, in seq order: first those already stored, then each new one
   * as it is appended, until `signal` aborts or the consumer stops iterating. No gap and no
   * duplicate: resubscribing after the last seq seen yields exactly the rest. A consumer slower than
   * the appends is not a problem: it falls back to reading the log and never loses an event.
   */
  subscribe(sessionId: string, options?: SubscribeOptions): AsyncIterable<StoredEvent>;

  /** Stop background work (listeners, timers) and end every open subscription. Idempotent. */
  close(): Promise<void>;
}
