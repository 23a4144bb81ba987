/**
 * The wake queue as the session log sees it: an append can request the session's brain in the same
 * transaction (`AppendOptions.wake`), so an input that is in the log always has a wake, whatever
 * process dies when. The queue itself (claims, leases) is the brain's: `src/brain/lease.ts`.
 */

/** The channel a wake request notifies on PostgreSQL: idle brains in every process look at once. */
export const WAKE_CHANNEL = 'oma_wake';

/** Upsert the wake row of session `$1`: one more request (a brain holding it runs once more). */
export const WAKE_UPSERT_SQL = `INSERT INTO session_wakes (session_id) VALUES ($1)
  ON CONFLICT (session_id) DO UPDATE SET requested_at = now(), requests = session_wakes.requests + 1`;

/** The upsert, plus a notification delivered when the transaction commits (PostgreSQL). */
export const WAKE_NOTIFY_SQL = `WITH wake AS (${WAKE_UPSERT_SQL} RETURNING session_id) SELECT pg_notify('${WAKE_CHANNEL}', session_id) FROM wake`;
