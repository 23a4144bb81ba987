import type { Db } from '../db/interface.ts';
import type { NewEvent } from './interface.ts';
import { closedLog, duplicateId, staleFence, staleSeq } from './validate.ts';
import { WAKE_NOTIFY_SQL } from './wakes.ts';

/**
 * Group commit for session log appends. Concurrent appends to different sessions are combined into
 * one statement (one round trip, one commit, one WAL flush), which is what lets one process reach
 * ~10k durable appends/s on two cores; a lone append still goes out at once.
 *
 * Each session's head row in `session_logs` is advanced under its row lock and its events inserted in
 * the same statement, so appends to one session serialise, commit in seq order, and `expectedSeq` /
 * `fence` are checked by PostgreSQL against the latest head. A session is never in two statements in
 * flight at once, so statements of one process never wait on each other's row locks; inputs are sorted
 * by session id so statements of different processes lock in one order (a deadlock, should one happen
 * anyway, falls back to one append per statement).
 */
const APPEND_SQL = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, session_id text, n bigint, expected bigint, fence bigint, close boolean, events jsonb)
), head AS (
  UPDATE session_logs s
     SET last_seq = s.last_seq + input.n,
         fence = GREATEST(s.fence, COALESCE(input.fence, s.fence)),
         last_at = GREATEST(clock_timestamp(), s.last_at),
         closed = input.close
    FROM input
   WHERE s.session_id = ANY($2::text[]) -- lets the planner use the primary key, not scan the table
     AND s.session_id = input.session_id
     AND (input.expected IS NULL OR s.last_seq = input.expected)
     AND (input.fence IS NULL OR s.fence <= input.fence)
     AND NOT s.closed
  RETURNING input.i, s.session_id, s.last_seq, s.last_at, input.n, input.events
), inserted AS (
  INSERT INTO events (session_id, seq, id, type, payload, created_at)
  SELECT head.session_id, head.last_seq - head.n + e.ordinality, e.value->>'id', e.value->>'type', e.value->'payload', head.last_at
    FROM head, jsonb_array_elements(head.events) WITH ORDINALITY AS e
)
SELECT i, last_seq, last_at FROM head`;

export interface AppendRequest {
  sessionId: string;
  events: Required<NewEvent>[];
  /** `events` as JSON, spliced into the statement's input as is. */
  json: string;
  expectedSeq: number | undefined;
  fence: number | undefined;
  close: boolean;
  /** Request the session's brain in the same transaction (committed alone). */
  wake: boolean;
}

export interface AppendResult {
  lastSeq: number;
  createdAt: Date;
}

interface Pending extends AppendRequest {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions {
  /** Statements in flight at once (fewer means larger batches). Default 2. */
  maxInFlight?: number;
  /** Appends combined into one statement at most. Default 128. */
  maxBatch?: number;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  private readonly busySessions = new Set<string>();
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;

  constructor(
    private readonly db: Db,
    options: GroupCommitOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 128;
  }

  append(request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...request, resolve, reject });
      if (!this.scheduled) {
        // Let appends issued in the same tick join one statement.
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump() {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch: Pending[] = [];
      const waiting: Pending[] = [];
      for (const request of this.queue) {
        // A waking append (client input, rare) goes alone, in a transaction with its wake.
        const fits = batch.length === 0 || (batch.length < this.maxBatch && !request.wake && !batch[0]!.wake);
        if (fits && !this.busySessions.has(request.sessionId)) {
          this.busySessions.add(request.sessionId);
          batch.push(request);
        } else {
          waiting.push(request);
        }
      }
      if (batch.length === 0) return;
      this.queue = waiting;
      this.inFlight++;
      void this.commit(batch).finally(() => {
        for (const request of batch) this.busySessions.delete(request.sessionId);
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    let rows: { i: number; last_seq: number; last_at: Date }[];
    try {
      rows = await this.run(batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(isDuplicateId(error) ? duplicateId(error) : error);
        return;
      }
      // One bad append (a repeated event id) or a deadlock with another process fails the whole
      // statement: append one by one, so each caller gets its own outcome.
      await Promise.all(batch.map((request) => this.commit([request])));
      return;
    }
    const done = new Map(rows.map((row) => [row.i, row]));
    await Promise.all(
      batch.map(async (request, index) => {
        const row = done.get(index);
        if (row) return request.resolve({ lastSeq: row.last_seq, createdAt: row.last_at });
        try {
          await this.explain(request);
          await this.commit([request]); // the head was missing, or moved in our favour: once more
        } catch (error) {
          request.reject(error);
        }
      }),
    );
  }

  private async run(batch: Pending[]) {
    // Sorted by session id, so that statements of different processes take row locks in one order.
    batch.sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
    const input = batch.map(
      (request, i) =>
        `{"i":${i},"session_id":${JSON.stringify(request.sessionId)},"n":${request.events.length},` +
        `"expected":${request.expectedSeq ?? null},"fence":${request.fence ?? null},"close":${request.close},"events":${request.json}}`,
    );
    const params = [`[${input.join(',')}]`, batch.map((request) => request.sessionId)];
    type Row = { i: number; last_seq: number; last_at: Date };
    if (!batch[0]!.wake) return (await this.db.query<Row>(APPEND_SQL, params)).rows;
    // The wake first: the same lock order as a brain's claim (wake row, then the log's head). Nothing
    // appended (the head is missing or a check failed): the wake is rolled back too, see commit().
    const nothing = new Error('nothing appended');
    try {
      return await this.db.transaction(async (tx) => {
        await tx.query(WAKE_NOTIFY_SQL, [batch[0]!.sessionId]);
        const { rows } = await tx.query<Row>(APPEND_SQL, params);
        if (rows.length === 0) throw nothing;
        return rows;
      });
    } catch (error) {
      if (error === nothing) return [];
      if ((error as { code?: string }).code === '23503') throw closedLog(batch[0]!.sessionId); // the session was deleted meanwhile
      throw error;
    }
  }

  /** Nothing was written for `request`: create the session's head, or throw the conflict. */
  private async explain(request: Pending): Promise<void> {
    const { sessionId, expectedSeq, fence } = request;
    const current = (
      await this.db.query<{ last_seq: number; fence: number; closed: boolean }>('SELECT last_seq, fence, closed FROM session_logs WHERE session_id = $1', [
        sessionId,
      ])
    ).rows[0];
    if (current?.closed) throw closedLog(sessionId);
    if (!current) {
      await this.db.query('INSERT INTO session_logs (session_id) VALUES ($1) ON CONFLICT DO NOTHING', [sessionId]);
    } else if (fence !== undefined && current.fence > fence) {
      throw staleFence(sessionId, fence, current.fence);
    } else if (expectedSeq !== undefined && current.last_seq !== expectedSeq) {
      throw staleSeq(sessionId, expectedSeq, current.last_seq);
    }
  }
}

/** A unique violation of `events.id` (a repeated event id), as opposed to any other constraint. */
function isDuplicateId(error: unknown): boolean {
  const { code, constraint } = error as { code?: string; constraint?: string };
  return code === '23505' && (constraint === undefined || constraint === 'events_id_key');
}
