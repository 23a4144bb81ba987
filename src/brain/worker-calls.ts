import type { Db, Queryable } from '../db/interface.ts';
import { isOmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { SessionLog } from '../session/interface.ts';
import { toolResultEvent } from './event-builders.ts';
import { authorised, SessionHistory } from './history.ts';
import { SANDBOX_TOOLS } from './toolset.ts';

/**
 * A self_hosted session's sandbox tools run on the user's worker, which answers each call with a
 * `user.tool_result`. When no answer can come — the worker holding the session lost its lease (it
 * died, or lost the network), or a call stayed unanswered past the timeout — the call is closed here
 * with a tool error the model reads, and the brain is woken to go on: the model sees what happened,
 * and the session is offered to the next worker when it next needs one.
 */

const WORKER_TOOLS = new Set<string>(SANDBOX_TOOLS);

export const LEASE_LOST_MESSAGE =
  'The worker running this tool call stopped responding (its lease on the session expired) before it answered. The call may or may not have run: check its effects before repeating it.';

/** Close the session's unanswered worker calls (those older than `olderThanMs`, if given) with `message`; how many were closed. */
export async function failWorkerCalls(log: SessionLog, sessionId: string, message: string, options: { olderThanMs?: number; createdBefore?: Date } = {}): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const history = new SessionHistory(await log.read(sessionId), { workerTools: WORKER_TOOLS });
    if (history.status === 'terminated') return 0;
    // Only calls made before the cutoff: a later one belongs to whichever worker holds the session now.
    const cutoff = Math.min(options.olderThanMs === undefined ? Infinity : Date.now() - options.olderThanMs, options.createdBefore?.getTime() ?? Infinity);
    // Calls a worker may be running: authorised ones (a call still awaiting its confirmation never ran, and waits on the user).
    const open = history.awaitingClient().filter((use) => history.isWorkerCall(use) && authorised(use) && use.event.createdAt.getTime() <= cutoff);
    if (open.length === 0) return 0;
    // As the hands' answer, so the next worker to take the session does not run the call again.
    const results = open.map((use) => ({ id: newId('sevt'), ...toolResultEvent(history, use.event.id, message, true) }));
    try {
      // Only onto the log as read (another sweeper, or the worker's own answer, may have closed them
      // meanwhile), and with the wake in the same transaction: the brain goes on whatever dies next.
      await log.append(sessionId, results, { wake: true, expectedSeq: history.lastSeq });
      return open.length;
    } catch (error) {
      if (!isOmaError(error, 'stale_seq') || attempt >= 5) throw error;
    }
  }
}

/** SQL: agent.tool_use events of the worker's tools with no result yet (`u` is the use, `$n` the tool names). */
const OPEN_CALL = (names: string) => `u.type = 'agent.tool_use' AND u.payload->>'name' = ANY(${names}::text[])
  AND NOT EXISTS (SELECT 1 FROM events r WHERE r.session_id = u.session_id AND r.type IN ('user.tool_result', 'agent.tool_result') AND r.payload->>'tool_use_id' = u.id)`;

/**
 * Self_hosted sessions with a worker call unanswered for longer than `timeoutMs`: those calls become
 * tool errors. Looks at sessions active in the last week only, so a sweep stays bounded.
 */
export async function sweepWorkerTimeouts(db: Db, log: SessionLog, timeoutMs: number): Promise<number> {
  const { rows } = await db.query<{ session_id: string }>(
    `SELECT DISTINCT u.session_id FROM sessions s
       JOIN environments e ON e.id = s.environment_id AND e.config->>'type' = 'self_hosted'
       JOIN events u ON u.session_id = s.id
      WHERE s.status <> 'terminated' AND s.updated_at > now() - interval '7 days'
        AND u.created_at < now() - ($1::bigint * interval '1 millisecond') AND ${OPEN_CALL('$2')}`,
    [timeoutMs, [...WORKER_TOOLS]],
  );
  let closed = 0;
  const message = `No worker answered this tool call within ${Math.round(timeoutMs / 1000)} s (OMA_WORKER_TOOL_TIMEOUT_MS), so it was abandoned. It may or may not have run.`;
  for (const { session_id: id } of rows) closed += await failWorkerCalls(log, id, message, { olderThanMs: timeoutMs });
  return closed;
}

/** Whether the session has a worker call no one answered (then it needs a worker: a live work item). */
export async function hasOpenWorkerCalls(db: Queryable, sessionId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM events u WHERE u.session_id = $1 AND ${OPEN_CALL('$2')} LIMIT 1`, [sessionId, [...WORKER_TOOLS]]);
  return rowCount > 0;
}
