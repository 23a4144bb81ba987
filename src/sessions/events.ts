import type { Context } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';
import { keyset, pageRequest, toPage } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import type { Queryable } from '../db/interface.ts';
import { isOmaError, OmaError } from '../errors.ts';
import { getFileMetadata } from '../files/store.ts';
import { PROCESSED, QUEUED_TYPES } from '../brain/history.ts';
import { newId } from '../ids.ts';
import type { NewEvent, StoredEvent } from '../session/interface.ts';
import { parseEvent, type SendableEvent } from './event-params.ts';
import { renderEvent, type SessionRow } from './render.ts';
import { getSessionRow, isSelfHosted } from './store.ts';
import { ensureWorkItem } from '../work/store.ts';

/** Sending events to a session and listing them (spec §5.1, §5.2). */

/** Every event type a stored event may have, for `types[]` (spec §5.3). */
export const EVENT_TYPES = new Set([
  'user.message', 'user.interrupt', 'user.tool_confirmation', 'user.custom_tool_result', 'user.tool_result', 'user.define_outcome',
  'system.message', 'agent.message', 'agent.thinking', 'agent.tool_use', 'agent.tool_result', 'agent.mcp_tool_use',
  'agent.mcp_tool_result', 'agent.custom_tool_use', 'agent.thread_message_received', 'agent.thread_message_sent',
  'agent.thread_context_compacted', 'session.error', 'session.status_rescheduled', 'session.status_running', 'session.status_idle',
  'session.status_terminated', 'session.thread_created', 'session.thread_status_running', 'session.thread_status_idle',
  'session.thread_status_terminated', 'session.thread_status_rescheduled', 'session.updated', 'session.usage', 'session.deleted',
  'span.model_request_start', 'span.model_request_end', 'span.outcome_evaluation_start', 'span.outcome_evaluation_ongoing',
  'span.outcome_evaluation_end', 'workflow_run.created', 'workflow_run.status_running', 'workflow_run.status_idle',
  'workflow_run.status_ended', 'workflow_run.error', 'workflow_run.phase_started', 'workflow_run.phase_ended',
]);


/** A session that accepts no more events: archived or terminated → 409 (not retried by the SDK). */
export function assertWritable(session: SessionRow) {
  if (session.archived_at) throw new OmaError('conflict', `session ${session.id} is archived; it accepts no events`, { details: { error_code: 'session_archived' } });
  if (session.status === 'terminated') {
    throw new OmaError('conflict', `session ${session.id} is terminated; it accepts no events`, { details: { error_code: 'session_terminated' } });
  }
}

/** Largest accepted event, as JSON (`OMA_MAX_EVENT_BYTES`, default 8 MiB: room for a large image). */
function maxEventBytes(): number {
  const value = Number(process.env.OMA_MAX_EVENT_BYTES);
  return Number.isInteger(value) && value > 0 ? value : 8 * 1024 * 1024;
}

/** Validate a whole request before anything is written: one bad event rejects all of them. */
export function parseEvents(values: unknown, options: { path: string; allowed?: readonly string[] }): SendableEvent[] {
  if (!Array.isArray(values) || values.length === 0) throw new OmaError('invalid_request', `${options.path}: must be a non-empty array of events`);
  if (values.length > 1000) throw new OmaError('invalid_request', `${options.path}: at most 1000 events per request`);
  const errors: string[] = [];
  const events: SendableEvent[] = [];
  const maxBytes = maxEventBytes();
  values.forEach((value, index) => {
    const path = `${options.path}.${index}`;
    const size = Buffer.byteLength(JSON.stringify(value) ?? '');
    if (size > maxBytes) throw new OmaError('request_too_large', `${path} is ${size} bytes; one event may be at most ${maxBytes} bytes (OMA_MAX_EVENT_BYTES)`);
    const type = (value as { type?: unknown } | null)?.type;
    if (options.allowed && typeof type === 'string' && !options.allowed.includes(type)) {
      errors.push(`${path}.type: only ${options.allowed.join(' and ')} events are allowed here`);
      return;
    }
    const result = parseEvent(value, path);
    if ('error' in result) errors.push(result.error);
    else events.push(result.event);
  });
  if (errors.length > 0) throw new OmaError('invalid_request', errors.join('; '));
  checkSystemMessages(events, options.path);
  return events;
}

/** `system.message`: at most one, last, right after a user message or tool result (spec §5.2). */
function checkSystemMessages(events: SendableEvent[], path: string) {
  const positions = events.flatMap((event, index) => (event.type === 'system.message' ? [index] : []));
  if (positions.length === 0) return;
  const index = positions[0]!;
  const previous = events[index - 1]?.type;
  if (positions.length > 1 || index !== events.length - 1 || !['user.message', 'user.tool_result', 'user.custom_tool_result'].includes(previous ?? '')) {
    throw new OmaError(
      'invalid_request',
      `${path}.${index}: a system.message must be the last event of a request and directly follow a user.message, user.tool_result or user.custom_tool_result`,
    );
  }
}

/** The ids of `kind` events in this session that no `resolvedBy` event answers yet. */
async function pendingToolUses(
  db: Queryable,
  sessionId: string,
  ids: string[],
  kinds: string[],
  resolvedBy: { type: string; field: string }[],
  options: { permission?: string } = {},
) {
  if (ids.length === 0) return new Set<string>();
  const uses = await db.query<{ id: string; payload: Record<string, unknown> }>(
    'SELECT id, payload FROM events WHERE session_id = $1 AND id = ANY($2::text[]) AND type = ANY($3::text[])',
    [sessionId, ids, kinds],
  );
  const answered = new Set<string>();
  for (const { type, field } of resolvedBy) {
    const { rows } = await db.query<{ ref: string }>(
      `SELECT payload->>'${field}' AS ref FROM events WHERE session_id = $1 AND type = $2 AND payload->>'${field}' = ANY($3::text[])`,
      [sessionId, type, ids],
    );
    for (const row of rows) answered.add(row.ref);
  }
  return new Set(
    uses.rows.filter((row) => !answered.has(row.id) && (!options.permission || row.payload.evaluated_permission === options.permission)).map((row) => row.id),
  );
}

/** Check references to earlier events: answers must answer something pending in this session. */
async function checkReferences(db: Queryable, session: SessionRow, events: SendableEvent[], selfHosted: boolean) {
  const custom = events.flatMap((event) => (event.type === 'user.custom_tool_result' ? [event.custom_tool_use_id] : []));
  const confirmations = events.flatMap((event) => (event.type === 'user.tool_confirmation' ? [event.tool_use_id] : []));
  const results = events.flatMap((event) => (event.type === 'user.tool_result' ? [event.tool_use_id] : []));
  if (results.length > 0 && !selfHosted) {
    throw new OmaError('invalid_request', 'user.tool_result is only accepted on sessions of self_hosted environments; answer custom tools with user.custom_tool_result');
  }
  // An interrupt closes open tool uses with an agent.tool_result: they take no answer after that.
  const closed = { type: 'agent.tool_result', field: 'tool_use_id' };
  const pendingCustom = await pendingToolUses(db, session.id, custom, ['agent.custom_tool_use'], [{ type: 'user.custom_tool_result', field: 'custom_tool_use_id' }, closed]);
  for (const id of custom) if (!pendingCustom.has(id)) throw new OmaError('invalid_request', `custom_tool_use_id ${id} is not a pending agent.custom_tool_use of session ${session.id}`);
  const pendingAsk = await pendingToolUses(db, session.id, confirmations, ['agent.tool_use', 'agent.mcp_tool_use'], [{ type: 'user.tool_confirmation', field: 'tool_use_id' }, closed], {
    permission: 'ask',
  });
  for (const id of confirmations) if (!pendingAsk.has(id)) throw new OmaError('invalid_request', `tool_use_id ${id} is not a tool use of session ${session.id} awaiting confirmation`);
  const pendingSandbox = await pendingToolUses(db, session.id, results, ['agent.tool_use'], [{ type: 'user.tool_result', field: 'tool_use_id' }, closed]);
  for (const id of results) if (!pendingSandbox.has(id)) throw new OmaError('invalid_request', `tool_use_id ${id} is not a pending agent.tool_use of session ${session.id}`);
  const repeated = [...custom, ...confirmations, ...results].find((id, index, all) => all.indexOf(id) !== index);
  if (repeated) throw new OmaError('invalid_request', `tool use ${repeated} is answered twice in one request`);
}

/**
 * Files named inside events (image/document sources, file rubrics) must be files of the caller's
 * workspace: checked here, so a brain never resolves another workspace's file.
 */
export async function checkFileReferences(db: Queryable, workspaceId: string, events: SendableEvent[], path: string) {
  const references: { id: string; where: string }[] = [];
  events.forEach((event, index) => {
    if (event.type === 'user.define_outcome' && event.rubric.type === 'file') references.push({ id: event.rubric.file_id, where: `${path}.${index}.rubric.file_id` });
    const content = 'content' in event && Array.isArray(event.content) ? (event.content as { type: string; source?: { type: string; file_id?: string } }[]) : [];
    content.forEach((block, blockIndex) => {
      if (block.source?.type === 'file' && block.source.file_id) references.push({ id: block.source.file_id, where: `${path}.${index}.content.${blockIndex}.source.file_id` });
    });
  });
  for (const reference of references) {
    try {
      await getFileMetadata(db, workspaceId, reference.id);
    } catch (error) {
      if (isOmaError(error, 'not_found')) throw new OmaError('invalid_request', `${reference.where}: no file ${reference.id}`);
      throw error;
    }
  }
}

/** Log entries for checked client events: ids assigned now, echoes as spec §5.2 describes. */
export function toLogEvents(events: SendableEvent[]): NewEvent[] {
  return events.map((event) => {
    const { type, ...fields } = event;
    const payload: Record<string, unknown> = { ...fields };
    if (type === 'user.define_outcome') {
      payload.outcome_id = newId('outc');
      payload.max_iterations = event.max_iterations ?? 3;
    }
    if (QUEUED_TYPES.has(type)) payload.processed_at = null;
    return { id: newId('sevt'), type, payload };
  });
}

/** Append client events to a session, waking its brain first so that no input is left unseen. */
export async function appendClientEvents(deps: ApiDeps, session: SessionRow, events: SendableEvent[]): Promise<StoredEvent[]> {
  const logEvents = toLogEvents(events);
  // The wake is requested in the append's own transaction (and announced to every process on commit):
  // input never sits in the log without one, whatever dies when (decision 0011).
  const lastSeq = await deps.sessionLog.append(session.id, logEvents, { wake: true });
  deps.onWake?.(session.id);
  const outcomes = logEvents.filter((event) => event.type === 'user.define_outcome');
  if (outcomes.length > 0) {
    const evaluations = outcomes.map((event) => ({
      type: 'outcome_evaluation',
      outcome_id: event.payload!.outcome_id,
      description: event.payload!.description,
      iteration: 0,
      result: 'pending',
      explanation: null,
      completed_at: null,
    }));
    await deps.db.query('UPDATE sessions SET outcome_evaluations = outcome_evaluations || $2::jsonb, updated_at = now() WHERE id = $1', [
      session.id,
      JSON.stringify(evaluations),
    ]);
  }
  return deps.sessionLog.read(session.id, { afterSeq: lastSeq - logEvents.length, beforeSeq: lastSeq + 1 });
}

/** What a worker's credential may send: the hands' answers, nothing that steers the session (messages, confirmations, interrupts). */
const WORKER_SENDABLE = new Set(['user.tool_result', 'user.custom_tool_result']);

export async function sendEvents(c: Context<AppEnv>, deps: ApiDeps, body: { events?: unknown }) {
  const session = await getSessionRow(deps.db, c.get('principal').workspaceId, c.req.param('session_id')!);
  assertWritable(session);
  const events = parseEvents(body.events, { path: 'events' });
  const scope = c.get('principal').scope;
  const steering = scope ? events.find((event) => !WORKER_SENDABLE.has(event.type)) : undefined;
  if (steering) {
    // The worker runs what the model asks: its credential must not approve its own calls or prompt the model.
    throw new OmaError('permission_denied', `a worker's credential may send only user.tool_result and user.custom_tool_result, not ${steering.type}; use an API key`);
  }
  // Only a sandbox tool result needs to know the environment's kind.
  const selfHosted = events.some((event) => event.type === 'user.tool_result') && (await isSelfHosted(deps.db, session));
  await checkReferences(deps.db, session, events, selfHosted);
  await checkFileReferences(deps.db, session.workspace_id, events, 'events');
  const stored = await appendClientEvents(deps, session, events);
  // The session runs again: on a self_hosted environment it needs a live work item (a no-op elsewhere).
  await ensureWorkItem(deps.db, { id: session.id, workspaceId: session.workspace_id, environmentId: session.environment_id });
  return { data: stored.map((event) => renderEvent(event)) };
}

export async function listEvents(c: Context<AppEnv>, deps: ApiDeps) {
  const session = await getSessionRow(deps.db, c.get('principal').workspaceId, c.req.param('session_id')!);
  const query = new Query(c);
  const request = pageRequest(query, { defaultLimit: 1000, maxLimit: 1000, defaultOrder: 'asc', orderParam: true, keyType: 'number' });
  const types = query.list('types');
  for (const type of types) if (!EVENT_TYPES.has(type)) throw new OmaError('invalid_request', `types: ${JSON.stringify(type)} is not an event type`);
  const params: unknown[] = [session.id];
  const conditions = ['session_id = $1', "type NOT LIKE 'oma.%'"];
  if (types.length > 0) conditions.push(`type = ANY($${params.push(types)}::text[])`);
  for (const [name, operator] of [['gt', '>'], ['gte', '>='], ['lt', '<'], ['lte', '<=']] as const) {
    const value = query.timestamp(`created_at[${name}]`);
    if (value) conditions.push(`created_at ${operator} $${params.push(value.toISOString())}::timestamptz`);
  }
  const page = keyset('seq', request, params);
  const { rows } = await deps.db.query<{ seq: number; id: string; type: string; payload: Record<string, unknown>; created_at: Date }>(
    `SELECT seq, id, type, payload, created_at FROM events WHERE ${conditions.join(' AND ')} AND ${page.where} ORDER BY ${page.orderBy} ${page.limit}`,
    params,
  );
  const processed = await processedTimes(deps.db, session.id, rows);
  return toPage(
    rows,
    request,
    (row) => row.seq,
    (row) => renderEvent({ sessionId: session.id, seq: row.seq, id: row.id, type: row.type, payload: row.payload, createdAt: row.created_at }, processed.get(row.id)),
  );
}

/** When a brain took each still-queued client event among `events` (decision 0006). */
export async function processedTimes(db: Queryable, sessionId: string, events: { id: string; type: string; payload: Record<string, unknown> }[]) {
  const queued = events.filter((event) => QUEUED_TYPES.has(event.type) && event.payload.processed_at === null).map((event) => event.id);
  const times = new Map<string, string>();
  if (queued.length === 0) return times;
  const { rows } = await db.query<{ event_id: string; processed_at: string }>(
    `SELECT payload->>'event_id' AS event_id, payload->>'processed_at' AS processed_at FROM events
     WHERE session_id = $1 AND type = '${PROCESSED}' AND payload->>'event_id' = ANY($2::text[])`,
    [sessionId, queued],
  );
  for (const row of rows) times.set(row.event_id, row.processed_at);
  return times;
}
