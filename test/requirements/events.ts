/** Session events requirements (spec api-core.md §5). Tests cite the id in their name: `[EVT-1] …`. */
export const eventsRequirements: Record<string, string> = {
  'EVT-1': 'send: echoes each event as stored (sevt_ id, processed_at null for queued types), appends it to the log and requests a wake of the brain',
  'EVT-2': 'list: positional, order asc (default) / desc, types[] filter, created_at filters, PageCursor pagination (limit up to 1000)',
  'EVT-3': 'every client event type is accepted when valid: user.message, user.interrupt, user.define_outcome (outcome_id, outcome_evaluations entry), system.message after a user.message',
  'EVT-4': 'malformed events (unknown type, redacted block, empty content, bad fields, misplaced system.message) → 400 naming the problem; the log is unchanged',
  'EVT-5': 'answers must answer something pending: custom tool result / tool confirmation for an unknown or answered id → 400; user.tool_result outside self_hosted → 400',
  'EVT-6': 'stream: SSE with event: = payload type and one JSON data: line; headers flushed at once; delivers events sent after it opened; ends after session.status_terminated',
  'EVT-7': 'stream resume: Last-Event-ID: <seq> delivers exactly the events after that position, then live',
  'EVT-8': 'a client that disconnects from a stream releases its log subscription',
  'EVT-9': 'stream: bad event_deltas → 400 before the stream starts; keep-alive pings; a terminated session replays its terminal event and closes',
  'EVT-11': 'sends racing an archive or a delete: nothing lands after session.status_terminated, concurrent archives record it once, and a deleted session\'s log stays gone',
  'EVT-12': 'text PostgreSQL cannot store (U+0000, unpaired surrogates) → 400 naming the field before anything is written (no wake, no session)',
  'EVT-13': "files named inside events (image/document file sources, file rubrics) must be the caller's workspace's: another workspace's or an unknown file → 400 naming the field, nothing appended",
  'EVT-10': 'sends to an archived or terminated session → 409 (x-should-retry: false), nothing appended',
};
