/** Sessions requirements (spec api-core.md §4, §6). Tests cite the id in their name: `[SES-1] …`. */
export const sessionsRequirements: Record<string, string> = {
  'SES-1': 'create with an agent id pins its latest version; starts idle; every response field present (usage counters 0, stats, outcome_evaluations, resources, vault_ids, budget, archived_at, deployment_id)',
  'SES-2': 'create with {type:"agent", id, version} pins that version, unaffected by later agent updates',
  'SES-3': 'unknown agent / version / environment → 404; archived agent or environment → 400; nothing created',
  'SES-4': 'list: newest first by default, order=asc, statuses[], agent_id + agent_version, include_archived, created_at filters; bidirectional pagination (next_page, prev_page)',
  'SES-5': 'update: title, metadata patch (null deletes); emits session.updated with only the changed fields; vault_ids → 400; adding a budget → 400 budget_create_only',
  'SES-6': 'archive: status terminated, archived_at set, session.status_terminated appended; then sends and updates → 409 not retried; hidden from lists unless include_archived',
  'SES-7': 'delete: {id, type:"session_deleted"}; the session and its events are gone (404); open streams get session.deleted and close',
  'SES-8': "another workspace's session is 404 on every route",
  'SES-9': 'resources: file and github_repository at create and through resources.* (add/list/retrieve/update/delete); the repository token is never returned; a missing file → 400',
  'SES-10': 'initial_events: user.message / user.define_outcome appended at creation and a wake requested; any other type or a malformed one → 400 and no session',
  'SES-12': 'threads: a single-agent session lists exactly its primary thread (parent null, status and agent of the session); retrieve, events and stream work on it; archiving it → 400; unknown thread → 404',
  'SES-13': 'agent_with_overrides: model (effort ignored), system, tools, mcp_servers and skills replace the pinned agent\'s for this session only; invalid overrides → 400',
  'SES-14': 'update agent.tools / agent.mcp_servers (not while running): session-local replacement, session.updated carries the full agent snapshot',
  'SES-11': 'bad bodies (unknown fields, wrong types, bad metadata) → 400 naming the field; nothing created',
};
