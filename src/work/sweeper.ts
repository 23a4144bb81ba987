import type { Logger } from 'pino';
import type { Queryable } from '../db/interface.ts';
import { expireLeases, lapsedLeases, requeueIfWaiting } from './store.ts';

export interface WorkSweeperOptions {
  db: Queryable;
  /** The lease TTL; the sweep runs every max(1 s, ttl/4), so a lapsed lease is noticed within a quarter of it. */
  ttlSeconds: number;
  /**
   * Called with the sessions whose item's lease lapsed in one sweep, *before* their items go back to
   * the queue (or to stopped, when a stop was pending), so the brain closes their outstanding tool
   * calls before another worker can see them unanswered and run them again. Not called for an empty
   * sweep. A failure is logged, and the items stay as they are until the next sweep tries again.
   */
  onLeaseLost?: (sessionIds: string[], lapsedBy: Date) => Promise<void>;
  /** Whether a session still waits on worker calls (then a stopped item is replaced by a new one). */
  waiting?: (sessionId: string) => Promise<boolean>;
  /** Run after each sweep (e.g. the worker-call timeouts); failures are logged. */
  afterSweep?: () => Promise<unknown>;
  logger?: Logger;
}

export interface WorkSweeper {
  /** Stop sweeping; resolves once a sweep in progress has finished. */
  stop(): Promise<void>;
}

/** Expire the leases of work items whose worker stopped heartbeating, while the server runs. */
export function startWorkSweeper(options: WorkSweeperOptions): WorkSweeper {
  const intervalMs = Math.max(1_000, (options.ttlSeconds * 1_000) / 4);
  const onLeaseLost = options.onLeaseLost ?? (async () => {});
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async () => {
    try {
      const now = new Date();
      const lapsed = await lapsedLeases(options.db, now);
      if (lapsed.length > 0) {
        await onLeaseLost(lapsed, now);
        const sessionIds = await expireLeases(options.db, now);
        options.logger?.info({ sessionIds }, 'work leases lapsed; items re-queued');
        // A lapsed `stopping` item is stopped, not re-queued: a session still waiting on its worker gets a new one.
        if (options.waiting) for (const id of sessionIds) await requeueIfWaiting(options.db, id, options.waiting);
      }
      await options.afterSweep?.();
    } catch (error) {
      if (!stopped) options.logger?.error({ err: error }, 'work lease sweep failed');
    }
  };
  const timer = setInterval(() => {
    running = running.then(sweep);
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
