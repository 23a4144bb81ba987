/**
 * Self-hosted hands: the environment work protocol the SDK's worker speaks (issue: self-hosted
 * hands; spec hands-and-credentials §1–6). Tests cite the id in their name: `[WORK-1] …`.
 */
export const selfHostedRequirements: Record<string, string> = {
  'WORK-1': 'a session on a self_hosted environment queues a work item when it is created and whenever it runs again with no live item; one live item per session at most',
  'WORK-2': 'poll (long-poll up to block_ms, 204 when empty), ack, heartbeat (NO_HEARTBEAT, exact match, 412 with current_state), stop (idempotent, force and graceful through the heartbeat) as the SDK calls them, with the work item fields and the base64url secret it decodes; an item is offered to one worker at a time and returns to the queue when unacknowledged past reclaim_older_than_ms or un-heartbeated past its TTL',
  'WORK-3': 'the operator routes: work stats, list, retrieve (secret null) and metadata update, with the SDK\'s shapes',
  'WORK-4': "environment keys: minted by an admin route and `oma environments key create ENV_ID` (through the running server; the key alone on stdout's last line, or --json), stored hashed, revocable, valid only for that environment's work routes",
  'WORK-5': "the sessions token of a work item grants that session's retrieve and events (list, stream, send), its item's heartbeat and stop, for as long as the item is held: another session is 404, after stop it is 401; it is not an API key",
  'WORK-6': 'the brain routes a self_hosted session\'s sandbox tool calls to its worker (agent.tool_use, idle requires_action) and resumes on user.tool_result; a call unanswered past its timeout, or whose worker lost its lease, becomes a tool error and the session is re-offered',
  'WORK-7': "the SDK's own EnvironmentWorker, unmodified, in a child process: runs a session's bash/read/write calls in its directory with results reaching the model; killed with SIGKILL mid-call, another worker continues the session and the log shows the tool error; two workers share sessions without double-processing",
};
