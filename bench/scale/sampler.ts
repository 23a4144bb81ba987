import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Cluster } from './cluster.ts';

/**
 * What a set-up uses while it runs, sampled every 250 ms from the bench: its PostgreSQL connections
 * (`pg_stat_activity`, counted by the `application_name` each oma process was given, so the
 * bench's own monitor connection and other work on the same database are not counted), and each
 * process's resident memory (`VmRSS` in /proc/<pid>/status), and during the load the wake queue
 * (`session_wakes`: rows under a live lease = brains busy; rows due and unleased = turns waiting
 * for a brain). Peaks and sums are kept; a sample still running when the next is due is skipped.
 */

const EVERY_MS = 250;

export interface Usage {
  /** Most connections open at once, all of the set-up's processes together. */
  connections: number;
  /** Per process (application_name), the most it had open at once. */
  connectionsByProcess: Map<string, number>;
  /** Per pid, peak RSS in bytes. */
  rss: Map<number, { name: string; role: 'serve' | 'worker'; bytes: number }>;
  samples: number;
  /**
   * While `loading`, summed over its samples: the wake queue — wakes held by a brain, wakes waiting
   * for one — and the connections running a statement (state `active`; a LISTEN connection is idle).
   */
  queue: { samples: number; leased: number; waiting: number; maxWaiting: number; workersActive: number; serveActive: number };
}

export class Sampler {
  private readonly usage: Usage = { connections: 0, connectionsByProcess: new Map(), rss: new Map(), samples: 0, queue: { samples: 0, leased: 0, waiting: 0, maxWaiting: 0, workersActive: 0, serveActive: 0 } };
  /** Sample the wake queue too (set during the load). */
  loading = false;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  private constructor(
    private readonly cluster: Cluster,
    private readonly monitor: pg.Client,
  ) {}

  static async start(cluster: Cluster, url: string): Promise<Sampler> {
    const monitor = new pg.Client({ connectionString: url, application_name: 'oma_scale_bench_monitor' });
    await monitor.connect();
    const sampler = new Sampler(cluster, monitor);
    await sampler.sample();
    sampler.timer = setInterval(() => void sampler.sample(), EVERY_MS);
    return sampler;
  }

  private async sample() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const { pid, name, role } of this.cluster.processes()) {
        const bytes = rssBytes(pid);
        if (bytes === undefined) continue;
        const entry = this.usage.rss.get(pid);
        if (!entry || bytes > entry.bytes) this.usage.rss.set(pid, { name, role, bytes });
      }
      const { rows } = await this.monitor.query<{ name: string; count: number; active: number }>(
        `SELECT application_name AS name, count(*)::int AS count, count(*) FILTER (WHERE state = 'active')::int AS active
         FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, $1) GROUP BY 1`,
        [this.cluster.appPrefix],
      );
      let total = 0;
      let workersActive = 0;
      let serveActive = 0;
      for (const { name, count, active } of rows) {
        total += count;
        this.usage.connectionsByProcess.set(name, Math.max(count, this.usage.connectionsByProcess.get(name) ?? 0));
        if (name.endsWith('_serve')) serveActive += active;
        else workersActive += active;
      }
      this.usage.connections = Math.max(this.usage.connections, total);
      this.usage.samples++;
      if (this.loading) {
        const { rows: [wakes] } = await this.monitor.query<{ leased: number; waiting: number }>(
          `SELECT count(*) FILTER (WHERE leased_until >= now())::int AS leased, count(*) FILTER (WHERE leased_until IS NULL OR leased_until < now())::int AS waiting
           FROM ${this.cluster.database.schema}.session_wakes`,
        );
        const queue = this.usage.queue;
        queue.samples++;
        queue.leased += wakes!.leased;
        queue.waiting += wakes!.waiting;
        queue.maxWaiting = Math.max(queue.maxWaiting, wakes!.waiting);
        queue.workersActive += workersActive;
        queue.serveActive += serveActive;
      }
    } catch {
      // a process gone between the listing and the read; the next sample catches up
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<Usage> {
    clearInterval(this.timer);
    while (this.busy) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.sample();
    await this.monitor.end();
    return this.usage;
  }
}

function rssBytes(pid: number): number | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined when gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return undefined;
  }
}

export interface WakeActivity {
  /** Scans of `session_wakes` (sequential + index): claims, renewals, completions, the send's upsert. */
  scans: number;
  /** Rows inserted, updated, deleted. */
  writes: number;
}

/**
 * PostgreSQL's counters for the schema's `session_wakes`, since the schema was made. Read after the
 * set-up's processes have ended: a backend flushes its counters when it exits, not at each query.
 */
export async function wakeActivity(url: string, schema: string): Promise<WakeActivity> {
  const client = new pg.Client({ connectionString: url, application_name: 'oma_scale_bench_monitor' });
  await client.connect();
  try {
    const { rows } = await client.query<{ scans: number; writes: number }>(
      `SELECT (seq_scan + coalesce(idx_scan, 0))::float8 AS scans, (n_tup_ins + n_tup_upd + n_tup_del)::float8 AS writes
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'session_wakes'`,
      [schema],
    );
    return { scans: rows[0]?.scans ?? NaN, writes: rows[0]?.writes ?? NaN };
  } finally {
    await client.end();
  }
}
