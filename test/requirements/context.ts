/** Context requirements (issue: compaction, trimming and prompt caching; spec api-core.md §5.3, §5.6–5.7). Tests cite the id in their name. */
export const contextRequirements: Record<string, string> = {
  'CTX-1': 'context strategies (none, cache, trim, compact) are pure functions of (events, agent config, budget), chosen per agent (metadata oma.context; default compact) and validated (400 naming the key); replayed on a recorded log, every request is valid (tool_use/tool_result pairs intact) and fits the window',
  'CTX-2': 'prompt-cache layout: tools, system, then the history in append-only order, with breakpoints at the fixed part, the summary, the previous request and this one; on a long tool loop each request shares ≥ 95% of its bytes with the previous request and reads them from the cache',
  'CTX-3': 'trimming: beyond a budget, old tool results and thinking become short placeholders naming their event; only what the model has seen whole; the trim point moves rarely and forward only',
  'CTX-4': 'compaction: past the threshold, the model is asked for a summary and agent.thread_context_compacted (pre_compaction_tokens) is appended mid-turn with no status change; later requests are summary + newer events; the compaction request itself fits (trimmed, and in chunks when even that is too large)',
  'CTX-5': 'a 2,000-event session with large tool results runs to the end with compactions in its log and no failure; events.list still returns every original event whole; every tool output reached the model whole at least once',
  'CTX-6': '"prompt is too long: N tokens > M maximum" teaches the model its real window M: compaction or cutting and a retry, never the same refusal twice; later sessions of the process start with M',
  'CTX-7': 'a newest tool result larger than the whole window is cut in the middle to fit, with a marker naming its event; the session goes on',
  'CTX-8': 'bounded attempts: after 3 refusals in a row, session.error compaction_limit_reached_error (exhausted) and idle retries_exhausted; the session stays usable and its log intact',
  'CTX-9': 'read_session_log: off by default, enabled per agent (metadata oma.session_log_tool); positional slices of the session\'s own log (get, before, around, search); never internal events or private data',
  'CTX-10': 'token accounting: per-request input, cache-read and cache-write tokens in span.model_request_end and summed in session.usage; estimates calibrated from the model\'s own counts, count_tokens asked near the threshold',
};
