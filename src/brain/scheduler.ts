import type { Logger } from 'pino';
import type { Brain } from './brain.ts';
import type { Lease } from './lease.ts';

export interface SchedulerOptions {
  /** Sessions run at once by this process. */
  concurrency: number;
  /** How often to look for due wakes when nobody pokes (a fallback: pokes are immediate). */
  pollMs: number;
}

/**
 * Runs up to `concurrency` brains at once in this process, each on a wake it claimed. A session is
 * run by at most one brain at a time: that is the lease's job, not the scheduler's.
 */
export class Scheduler {
  private readonly running = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private poked = false;

  constructor(
    private readonly brain: Brain,
    private readonly options: SchedulerOptions,
    private readonly logger?: Logger,
  ) {}

  start() {
    this.loop ??= this.claimLoop();
  }

  /** New work may be due (a client sent events): look now rather than at the next poll. */
  poke() {
    this.poked = true;
    this.wakeUp?.();
  }

  /**
   * Stop claiming; give running brains `graceMs` to finish their turn, then stop them at their next
   * safe point (their wakes are handed back for another process, or the next start).
   */
  async stop(graceMs = 10_000) {
    if (this.shutdown.signal.aborted) return;
    this.stopClaiming = true;
    this.wakeUp?.();
    await this.loop;
    const timer = setTimeout(() => this.shutdown.abort(), graceMs);
    await Promise.allSettled([...this.running]);
    clearTimeout(timer);
    this.shutdown.abort();
  }

  private stopClaiming = false;

  private async claimLoop() {
    while (!this.stopClaiming) {
      if (this.running.size >= this.options.concurrency) {
        await this.sleep();
        continue;
      }
      this.poked = false;
      let leases: Lease[] = [];
      try {
        // As many as there are free brains, in one round trip.
        leases = await this.brain.claimNext(this.options.concurrency - this.running.size);
      } catch (error) {
        if (this.stopClaiming) break;
        this.logger?.error({ err: error }, 'claiming wakes failed');
      }
      if (leases.length === 0) {
        if (!this.poked) await this.sleep();
        continue;
      }
      for (const lease of leases) {
        const task = this.brain
          .run(lease, this.shutdown.signal)
          .catch((error) => this.logger?.error({ err: error, sessionId: lease.sessionId }, 'brain run failed'))
          .finally(() => {
            this.running.delete(task);
            this.wakeUp?.();
          });
        this.running.add(task);
      }
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }
}
