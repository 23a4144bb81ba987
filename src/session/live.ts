import type { ReadOptions, StoredEvent, SubscribeOptions } from './interface.ts';

/**
 * In-process fan-out of appended events to subscribers, shared by every SessionLog implementation.
 *
 * Subscribers never trust the broadcast for completeness: each keeps a cursor, skips what it has
 * seen, and on a gap (an out-of-order or missed publish) or an overflow goes back to reading the log.
 * So the broadcast only has to be fast, not perfect, and one database notification can feed every
 * local subscriber of a session through a single read (`poke`).
 */

const READ_PAGE = 500;
/** A subscriber that falls this far behind drops its buffer and catches up from the log instead. */
const MAX_BUFFERED = 10_000;

type ReadFn = (sessionId: string, options: ReadOptions) => Promise<StoredEvent[]>;
type Batch = StoredEvent[] | 'overflow' | 'end';

class Tap {
  cursor: number;
  private buffer: StoredEvent[] = [];
  private overflowed = false;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(cursor: number, readonly detach: () => void) {
    this.cursor = cursor;
  }

  push(events: readonly StoredEvent[]) {
    if (this.ended || this.overflowed) return;
    if (this.buffer.length + events.length > MAX_BUFFERED) {
      this.overflowed = true;
      this.buffer = [];
    } else {
      for (const event of events) this.buffer.push(event);
    }
    this.wake?.();
  }

  end() {
    this.ended = true;
    this.wake?.();
  }

  /** The next batch of broadcast events; waits for one. */
  async next(): Promise<Batch> {
    for (;;) {
      if (this.ended) return 'end';
      if (this.overflowed) {
        this.overflowed = false;
        return 'overflow';
      }
      if (this.buffer.length > 0) {
        const batch = this.buffer;
        this.buffer = [];
        return batch;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

interface Channel {
  taps: Set<Tap>;
  /** Highest seq broadcast so far on this channel (pokes below it need no read). */
  highest: number;
  fetching: boolean;
  /** A poke arrived while fetching: fetch again afterwards. */
  pokedWhileFetching: boolean;
}

export class Broadcaster {
  private readonly channels = new Map<string, Channel>();
  private closed = false;

  constructor(private readonly read: ReadFn) {}

  /** Session ids that have at least one local subscriber. */
  sessions(): string[] {
    return [...this.channels.keys()];
  }

  /** Whether the session has local subscribers (if not, publishing is a no-op and may be skipped). */
  has(sessionId: string): boolean {
    return this.channels.has(sessionId);
  }

  /** Broadcast events just appended in this process (any order; subscribers sort it out). */
  publish(sessionId: string, events: readonly StoredEvent[]) {
    const channel = this.channels.get(sessionId);
    if (!channel || events.length === 0) return;
    channel.highest = Math.max(channel.highest, events.at(-1)!.seq);
    for (const tap of channel.taps) tap.push(events);
  }

  /**
   * Another process appended up to `lastSeq`: read the new events once and broadcast them to every
   * local subscriber. Concurrent pokes for one session share a read.
   */
  poke(sessionId: string, lastSeq: number) {
    const channel = this.channels.get(sessionId);
    if (!channel || lastSeq <= channel.highest) return;
    if (channel.fetching) {
      channel.pokedWhileFetching = true;
      return;
    }
    channel.fetching = true;
    void (async () => {
      try {
        do {
          channel.pokedWhileFetching = false;
          const from = Math.max(channel.highest, Math.min(...[...channel.taps].map((tap) => tap.cursor)));
          const events = await this.read(sessionId, { afterSeq: from });
          this.publish(sessionId, events);
        } while (channel.pokedWhileFetching && channel.taps.size > 0);
      } catch {
        // The next poke, or the subscriber's own gap detection, retries.
      } finally {
        channel.fetching = false;
      }
    })();
  }

  /** Every event of the session with seq > afterSeq: stored ones first, then live ones. */
  async *subscribe(sessionId: string, { afterSeq = 0, signal }: SubscribeOptions = {}): AsyncGenerator<StoredEvent> {
    if (this.closed || signal?.aborted) return;
    // Attach before the first read, so that nothing appended in between is missed.
    const tap = this.attach(sessionId, afterSeq);
    // One abort listener per subscription (not per wait: with many subscribers that cost dominates).
    const onAbort = () => tap.end();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let cursor = afterSeq;
      let mustRead = true;
      for (;;) {
        while (mustRead) {
          const page = await this.read(sessionId, { afterSeq: cursor, limit: READ_PAGE });
          for (const event of page) {
            if (signal?.aborted) return;
            yield event;
            cursor = tap.cursor = event.seq;
          }
          mustRead = page.length === READ_PAGE;
        }
        const batch = await tap.next();
        if (batch === 'end') return;
        if (batch === 'overflow') {
          mustRead = true;
          continue;
        }
        for (const event of batch) {
          if (event.seq <= cursor) continue;
          if (event.seq !== cursor + 1) {
            mustRead = true; // a gap: the missing events are committed, read them
            break;
          }
          yield event;
          cursor = tap.cursor = event.seq;
          if (signal?.aborted) return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      tap.detach();
    }
  }

  /** End every subscription. */
  close() {
    this.closed = true;
    for (const channel of this.channels.values()) for (const tap of channel.taps) tap.end();
    this.channels.clear();
  }

  private attach(sessionId: string, cursor: number): Tap {
    let channel = this.channels.get(sessionId);
    if (!channel) {
      channel = { taps: new Set(), highest: 0, fetching: false, pokedWhileFetching: false };
      this.channels.set(sessionId, channel);
    }
    const owner = channel;
    const tap = new Tap(cursor, () => {
      owner.taps.delete(tap);
      if (owner.taps.size === 0 && this.channels.get(sessionId) === owner) this.channels.delete(sessionId);
    });
    channel.taps.add(tap);
    return tap;
  }
}
