import type { Queryable } from '../db/interface.ts';

/**
 * How many sessions that are not terminated reference environment `environmentId` of workspace
 * `workspaceId`. `deleteEnvironment` refuses (409 `environment_in_use`, no retry) while this is above
 * zero, inside the transaction that holds the environment row `FOR UPDATE`; session create reads the
 * row `FOR SHARE` in the transaction that inserts the session, so neither can slip past the other.
 */
export async function countLiveSessions(db: Queryable, workspaceId: string, environmentId: string): Promise<number> {
  const { rows } = await db.query<{ live: number }>(
    "SELECT count(*)::int AS live FROM sessions WHERE workspace_id = $1 AND environment_id = $2 AND status <> 'terminated'",
    [workspaceId, environmentId],
  );
  return rows[0]!.live;
}
