/** Crash-proof and scale-out requirements (issue: crash-proof). Tests cite the id in their name: `[CRASH-1] …`. */
export const crashRequirements: Record<string, string> = {
  'CRASH-1': 'a session whose brains keep dying without progress is ended after OMA_MAX_WAKE_ATTEMPTS claims in a row (session.error with the reason, idle retries_exhausted); any progress resets the count',
  'CRASH-2': 'a session shown running whose lease expired without a take-over is shown as rescheduling (retrieve and list filter), and resumes when a brain takes it',
  'CRASH-3': '`oma worker` runs brains only against DATABASE_URL, refuses PGlite with a clear message, and drains on SIGTERM (exit 0)',
  'CRASH-4': 'a wake in one process reaches an idle worker in another at once through a notification (not the poll)',
  'CRASH-5': 'embedded mode: oma serve killed with SIGKILL at random points across many turns and restarted: every session reaches its scripted end, no event id or seq twice, every tool use exactly one result, no side-effecting tool run twice, SSE clients resuming with Last-Event-ID see every event once',
  'CRASH-7': 'client input and its wake request are committed in one transaction (with the notification on PostgreSQL): no crash can leave input in the log without a wake, and a failed append requests nothing',
  'CRASH-6': 'PostgreSQL mode: workers killed with SIGKILL repeatedly while sessions run: the same guarantees as CRASH-5',
};
