import type { Db } from '../db/interface.ts';
import { isOmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { SessionLog } from '../session/interface.ts';
import { SessionHistory } from './history.ts';
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
export async function failWorkerCalls(log: SessionLog, sessionId: string, message: string, options: { olderThanMs?: number } = {}): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const history = new SessionHistory(await log.read(sessionId), { workerTools: WORKER_TOOLS });
    if (history.status === 'terminated') return 0;
    const cutoff = options.olderThanMs === undefined ? Infinity : Date.now() - options.olderThanMs;
    const open = history.awaitingClient().filter((use) => history.isWorkerCall(use) && use.event.createdAt.getTime() <= cutoff);
    if (open.length === 0) return 0;
    // As the hands' answer (`user.tool_result`): that is what the SDK's worker counts as answered, so
    // the next worker to take the session does not run the call again.
    const results = open.map((use) => ({
      id: newId('sevt'),
      type: 'user.tool_result',
      payload: { tool_use_id: use.event.id, content: [{ type: 'text', text: message }], is_error: true },
    }));
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

/**
 * Self_hosted sessions waiting on a worker call for longer than `timeoutMs`: their calls become tool
 * errors. Looks only at sessions whose last event is an idle `requires_action` from `timeoutMs` to a
 * day ago (a session waiting on its worker has been so since the call), so a sweep stays cheap.
 */
export async function sweepWorkerTimeouts(db: Db, log: SessionLog, timeoutMs: number): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT s.id FROM sessions s JOIN environments e ON e.id = s.environment_id
      WHERE e.config->>'type' = 'self_hosted' AND s.status = 'idle'
        AND s.updated_at < now() - ($1::bigint * interval '1 millisecond')
        AND s.updated_at > now() - ($1::bigint * interval '1 millisecond') - interval '1 day'
        AND EXISTS (SELECT 1 FROM events l WHERE l.session_id = s.id AND l.seq = (SELECT max(seq) FROM events m WHERE m.session_id = s.id)
                      AND l.type = 'session.status_idle' AND l.payload->'stop_reason'->>'type' = 'requires_action')`,
    [timeoutMs],
  );
  let closed = 0;
  const message = `No worker answered this tool call within ${Math.round(timeoutMs / 1000)} s (OMA_WORKER_TOOL_TIMEOUT_MS), so it was abandoned. It may or may not have run.`;
  for (const { id } of rows) closed += await failWorkerCalls(log, id, message, { olderThanMs: timeoutMs });
  return closed;
}
