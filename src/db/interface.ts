/**
 * The storage seam: a PostgreSQL-dialect database (PostgreSQL ≥ 15, or embedded PGlite). Everything
 * oma stores goes through these few members, so the two implementations stay interchangeable and the
 * same SQL (hand-written, PG 15 features only) runs on both.
 */

export interface QueryResult<Row> {
  rows: Row[];
  /** Rows affected by INSERT/UPDATE/DELETE, or returned by SELECT. */
  rowCount: number;
}

export interface Queryable {
  /**
   * Run one statement with `$1…$n` parameters. Values are sent as text: pass JSON as a string and
   * cast it (`$1::jsonb`). Result conventions on both implementations: `int8` → `number`,
   * `timestamptz` → `Date`, `json`/`jsonb` → parsed value.
   */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export interface Db extends Queryable {
  /** `pglite` is one process only; `postgres` may be shared by many processes. */
  readonly kind: 'pglite' | 'postgres';
  /** Where the data lives, for start-up messages: a directory, or `host:port/database` (never a password). */
  readonly description: string;

  /**
   * Run `fn` in one transaction (READ COMMITTED). Commits when `fn` resolves, rolls back when it
   * throws (and rethrows). Queries inside must go through `tx`, not the outer `Db`.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;

  /**
   * LISTEN on `channel` (a plain identifier). `onNotify` gets each NOTIFY payload sent after the
   * returned promise resolves, from any process. Deliveries are best-effort: a dropped connection can
   * lose some, so callers pair notifications with a slow poll. Resolves to an unlisten function.
   * `onReconnect`, if given, is called after a dropped listener connection was re-established.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;

  /** Finish in-flight queries, then release connections, files and locks. Idempotent. */
  close(): Promise<void>;
}
