import type { AppendOptions, NewEvent, ReadOptions, SessionLog, StoredEvent, SubscribeOptions } from './interface.ts';
import { Broadcaster } from './live.ts';
import { checkAppendOptions, checkReadOptions, closedLog, duplicateId, prepareEvents, staleFence, staleSeq } from './validate.ts';

interface MemorySession {
  events: StoredEvent[];
  fence: number;
  closed: boolean;
}

/** A SessionLog in memory, for tests and fakes. Same contract as the durable one, minus durability. */
export class MemorySessionLog implements SessionLog {
  private readonly sessions = new Map<string, MemorySession>();
  private readonly ids = new Set<string>();
  private readonly live = new Broadcaster((sessionId, options) => this.read(sessionId, options));

  async append(sessionId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<number> {
    const prepared = prepareEvents(events).events;
    checkAppendOptions(options);
    let session = this.sessions.get(sessionId);
    if (!session) {
      session = { events: [], fence: 0, closed: false };
      this.sessions.set(sessionId, session);
    }
    const lastSeq = session.events.length;
    if (session.closed) throw closedLog(sessionId);
    if (options.fence !== undefined && options.fence < session.fence) throw staleFence(sessionId, options.fence, session.fence);
    if (options.expectedSeq !== undefined && options.expectedSeq !== lastSeq) throw staleSeq(sessionId, options.expectedSeq, lastSeq);
    const batchIds = new Set(prepared.map((event) => event.id));
    if (batchIds.size !== prepared.length || prepared.some((event) => this.ids.has(event.id))) throw duplicateId();

    const previous = session.events.at(-1)?.createdAt.getTime() ?? 0;
    const createdAt = new Date(Math.max(Date.now(), previous));
    const stored = prepared.map((event, index): StoredEvent => ({
      sessionId,
      seq: lastSeq + index + 1,
      id: event.id,
      type: event.type,
      payload: event.payload,
      createdAt,
    }));
    if (options.fence !== undefined) session.fence = options.fence;
    if (options.close) session.closed = true;
    for (const event of stored) {
      session.events.push(event);
      this.ids.add(event.id);
    }
    this.live.publish(sessionId, stored.map(copy));
    return lastSeq + stored.length;
  }

  async read(sessionId: string, options: ReadOptions = {}): Promise<StoredEvent[]> {
    checkReadOptions(options);
    const all = this.sessions.get(sessionId)?.events ?? [];
    const { afterSeq = 0, beforeSeq = Infinity, limit = Infinity, order = 'asc' } = options;
    // seq n sits at index n - 1
    const slice = all.slice(afterSeq, Math.max(afterSeq, Math.min(all.length, beforeSeq - 1)));
    if (order === 'desc') slice.reverse();
    return slice.slice(0, limit).map(copy);
  }

  subscribe(sessionId: string, options: SubscribeOptions = {}): AsyncIterable<StoredEvent> {
    return this.live.subscribe(sessionId, options);
  }

  async close() {
    this.live.close();
  }
}

function copy(event: StoredEvent): StoredEvent {
  return { ...event, payload: structuredClone(event.payload), createdAt: new Date(event.createdAt) };
}
