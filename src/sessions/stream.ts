import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { presentedKey } from '../api/auth.ts';
import { credentialStillServes } from '../work/scope.ts';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';
import { Query } from '../api/query.ts';
import { OmaError } from '../errors.ts';
import type { StoredEvent } from '../session/interface.ts';
import { PROCESSED } from '../brain/history.ts';
import type { Preview } from '../brain/previews.ts';
import type { Queryable } from '../db/interface.ts';
import { isInternalEvent, renderEvent } from './render.ts';
import { getSessionRow, sessionExists } from './store.ts';

/**
 * `GET /v1/sessions/{id}/events/stream`: server-sent events exactly as the SDK reads them (spec §5.9).
 * - Headers go out at once (the SDK's `await stream()` resolves only when they arrive).
 * - Each message: `event: <payload type>`, `id: <seq>`, one `data:` line of JSON.
 * - Live by default: only events appended after the connection opened. With `Last-Event-ID: <seq>`,
 *   every event after that position, then live: a reconnect misses nothing and repeats nothing.
 * - `event: ping` keep-alives; closes after `session.deleted` or `session.status_terminated`.
 * - A client that disconnects ends its log subscription at once.
 */

const DELTA_TYPES = ['agent.message', 'agent.thinking'];

/** Subscribers of one session share the broadcast event objects: serialise each once, not per stream. */
const frames = new WeakMap<StoredEvent, string>();
function frame(event: StoredEvent): string {
  let data = frames.get(event);
  if (data === undefined) frames.set(event, (data = JSON.stringify(renderEvent(event))));
  return data;
}
/**
 * A brain took a queued client event: the stream shows that event again, same id, now with its
 * `processed_at` (spec §5.2). Looked up once per marker for all subscribers.
 */
const echoes = new WeakMap<StoredEvent, Promise<{ type: string; data: string } | undefined>>();
function echo(db: Queryable, marker: StoredEvent) {
  let frame = echoes.get(marker);
  if (frame === undefined) {
    frame = db
      .query<{ seq: number; id: string; type: string; payload: Record<string, unknown>; created_at: Date }>(
        'SELECT seq, id, type, payload, created_at FROM events WHERE session_id = $1 AND id = $2',
        [marker.sessionId, marker.payload.event_id],
      )
      .then(({ rows: [row] }) =>
        row
          ? {
              type: row.type,
              data: JSON.stringify(
                renderEvent({ sessionId: marker.sessionId, seq: row.seq, id: row.id, type: row.type, payload: row.payload, createdAt: row.created_at }, marker.payload.processed_at as string),
              ),
            }
          : undefined,
      );
    echoes.set(marker, frame);
  }
  return frame;
}
const TERMINAL_TYPES = new Set(['session.deleted', 'session.status_terminated']);

function keepAliveMs(): number {
  const value = Number(process.env.OMA_SSE_KEEPALIVE_MS);
  return Number.isFinite(value) && value > 0 ? value : 15_000;
}

export async function streamEvents(c: Context<AppEnv>, deps: ApiDeps): Promise<Response> {
  const session = await getSessionRow(deps.db, c.get('principal').workspaceId, c.req.param('session_id')!);
  const query = new Query(c);
  const deltas = query.list('event_deltas');
  if (deltas.length > 100) throw new OmaError('invalid_request', 'event_deltas: at most 100 values');
  for (const delta of deltas) {
    if (!DELTA_TYPES.includes(delta)) throw new OmaError('invalid_request', `event_deltas: ${JSON.stringify(delta)} is not one of ${DELTA_TYPES.join(', ')}`);
  }
  const lastEventId = c.req.header('last-event-id');
  if (lastEventId !== undefined && !(/^\d+$/.test(lastEventId.trim()) && Number.isSafeInteger(Number(lastEventId.trim())))) {
    throw new OmaError('invalid_request', 'Last-Event-ID must be an event position (the id: of a message this stream sent)');
  }
  let afterSeq: number;
  if (lastEventId !== undefined) afterSeq = Number(lastEventId.trim());
  else if (session.status === 'terminated') {
    // Already over: send the terminal event again (so a client knows to stop), then close.
    const [terminal] = await deps.sessionLog.read(session.id, { order: 'desc', limit: 1 });
    afterSeq = terminal && TERMINAL_TYPES.has(terminal.type) ? terminal.seq - 1 : (terminal?.seq ?? 0);
  } else afterSeq = (await deps.sessionLog.read(session.id, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;

  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no');
  // A worker's credential is checked again at every keep-alive, not only at connect.
  const workerKey = c.get('principal').scope ? presentedKey(c.req) : undefined;
  return streamSSE(c, async (stream) => {
    const controller = new AbortController();
    stream.onAbort(() => controller.abort());
    // An SSE comment: flushes the headers now and is ignored by every client.
    await stream.write(': connected\n\n');
    const ticker = setInterval(() => {
      void (async () => {
        if (workerKey && !(await credentialStillServes(deps.db, workerKey, session.id).catch(() => true))) {
          controller.abort(); // its item was stopped or handed on, or its key revoked
          return;
        }
        if (!(await sessionExists(deps.db, session.id).catch(() => true))) {
          // Deleted while we were not looking (the deletion event was already gone from the log).
          await write({ event: 'session.deleted', data: JSON.stringify({ type: 'session.deleted', id: '', processed_at: new Date().toISOString() }) });
          controller.abort();
          return;
        }
        await write({ event: 'ping', data: '{"type":"ping"}' });
      })().catch(() => controller.abort());
    }, keepAliveMs());
    // Previews come from this process's brains, outside the log: writes are queued so frames never interleave.
    let writing = Promise.resolve();
    const write = (message: { event: string; id?: string; data: string }) => (writing = writing.then(() => stream.writeSSE(message)));
    const announced = new Set<string>();
    // A preview follows its request's start in the log: held until this stream has written that far.
    let writtenSeq = afterSeq;
    let held: { preview: Preview; afterSeq: number }[] = [];
    const showPreview = (preview: Preview) => {
      if (preview.type === 'event_start') {
        if (!deltas.includes(preview.event.type)) return;
        announced.add(preview.event.id);
      } else if (!announced.has(preview.event_id)) return;
      void write({ event: preview.type, data: JSON.stringify(preview) }).catch(() => controller.abort());
    };
    const release = () => {
      const ready = held.filter((entry) => entry.afterSeq <= writtenSeq);
      held = held.filter((entry) => entry.afterSeq > writtenSeq);
      for (const entry of ready) showPreview(entry.preview);
    };
    const stopPreviews =
      deltas.length > 0 && deps.previews
        ? deps.previews.subscribe(session.id, (preview, previewAfter) => {
            if (previewAfter <= writtenSeq && held.length === 0) showPreview(preview);
            else held.push({ preview, afterSeq: previewAfter });
          })
        : undefined;
    try {
      for await (const event of deps.sessionLog.subscribe(session.id, { afterSeq, signal: controller.signal })) {
        if (event.type === PROCESSED) {
          const taken = await echo(deps.db, event);
          if (taken) await write({ event: taken.type, id: String(event.seq), data: taken.data });
        } else if (!isInternalEvent(event.type)) {
          announced.delete(event.id);
          await write({ event: event.type, id: String(event.seq), data: frame(event) });
          if (TERMINAL_TYPES.has(event.type)) break;
        }
        writtenSeq = event.seq;
        if (held.length > 0) release();
      }
    } finally {
      stopPreviews?.();
      clearInterval(ticker);
      controller.abort();
    }
  });
}
