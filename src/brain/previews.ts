/**
 * Live previews of a model response (`event_start`, `event_delta`; spec §5.9): published by the
 * brain as the model streams, delivered to the event streams of this process that asked for them.
 * Never stored, so best-effort by design: a stream in another process, or one that connects late,
 * simply sees the buffered events.
 */
export type Preview =
  | { type: 'event_start'; event: { type: 'agent.message' | 'agent.thinking'; id: string } }
  | { type: 'event_delta'; event_id: string; delta: { type: 'content_delta'; index: number; content: { type: 'text'; text: string } } };

export class Previews {
  private readonly listeners = new Map<string, Set<(preview: Preview, afterSeq: number) => void>>();

  /** `afterSeq`: the log position the preview follows (its request's start); streams show it after that. */
  publish(sessionId: string, preview: Preview, afterSeq: number) {
    for (const listener of this.listeners.get(sessionId) ?? []) listener(preview, afterSeq);
  }

  /** Returns the unsubscribe function. */
  subscribe(sessionId: string, listener: (preview: Preview, afterSeq: number) => void): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }
}
