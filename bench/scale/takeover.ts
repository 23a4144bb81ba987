import type Anthropic from '@anthropic-ai/sdk';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Cluster, Worker } from './cluster.ts';
import type { Ids } from './driver.ts';
import type { ScaleModel } from './model.ts';

/**
 * Take-over after `kill -9` of a worker, on a set-up of two workers with a short lease TTL. Each
 * round: `sessions` new sessions get one message each, whose model call is slow (`ScaleModel`'s
 * `slowOnce`: far longer than the round), so every one of them is mid-turn; once the model has seen
 * all their requests, `session_wakes.leased_by` says which worker holds which, and the worker holding
 * the most is SIGKILLed (after a delay that moves the kill through the lease's renewal period from
 * round to round). For each of its sessions the bench then polls `events.list` (every
 * `POLL_MS`) until an event newer than the kill appears — the other worker's first append after
 * claiming the expired lease — and records kill → seen. The round ends when every session is idle
 * again (the taken-over turns call the model once more, answered at the normal latency), and a new
 * worker replaces the killed one.
 */

const POLL_MS = 10;
const TIMEOUT_MS = 60_000;

export interface TakeoverResult {
  /** kill → the session's next event seen, ms, one per session of a killed worker. */
  samples: number[];
  rounds: number;
  /** Sessions held by the killed worker per round. */
  held: number[];
  errors: string[];
}

export async function measureTakeover(cluster: Cluster, client: Anthropic, ids: Ids, model: ScaleModel, options: { rounds: number; sessions: number; leaseTtlMs: number }): Promise<TakeoverResult> {
  const result: TakeoverResult = { samples: [], rounds: 0, held: [], errors: [] };
  const db = new pg.Client({ connectionString: cluster.options.url, application_name: 'oma_scale_bench_takeover' });
  await db.connect();
  try {
    for (let round = 0; round < options.rounds; round++) {
      const sessions = await Promise.all(Array.from({ length: options.sessions }, () => client.beta.sessions.create({ agent: ids.agent, environment_id: ids.environment })));
      const tags = sessions.map((_, index) => `k${round} s${index} t0`);
      for (const tag of tags) model.slowOnce(tag);
      await Promise.all(sessions.map((session, index) => client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: tags[index]! }] }] })));
      await model.waitFor(tags, TIMEOUT_MS);

      const { rows } = await db.query<{ session_id: string; leased_by: string | null }>(
        `SELECT session_id, leased_by FROM ${cluster.database.schema}.session_wakes WHERE session_id = ANY($1)`,
        [sessions.map((session) => session.id)],
      );
      const byWorker = new Map<Worker, string[]>();
      for (const row of rows) {
        const pid = Number(row.leased_by?.split(':').at(-1));
        const worker = cluster.workers.find((candidate) => candidate.pid === pid);
        if (worker) byWorker.set(worker, [...(byWorker.get(worker) ?? []), row.session_id]);
      }
      const [victim, held] = [...byWorker].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
      if (!victim || !held) throw new Error(`round ${round}: no session of this round is held by a worker (${JSON.stringify(rows)})`);
      const before = new Map(await Promise.all(held.map(async (id) => [id, (await listAll(client, id)).length] as const)));

      // Leases are renewed every TTL / 3: spread the kills over that period, so they do not all fall just after a renewal.
      await new Promise((resolve) => setTimeout(resolve, (round / options.rounds) * (options.leaseTtlMs / 3)));
      const killedAt = performance.now();
      await cluster.kill(victim);
      result.held.push(held.length);
      const taken = await Promise.allSettled(held.map((id) => nextEventAfter(client, id, before.get(id)!, killedAt)));
      for (const outcome of taken) {
        if (outcome.status === 'fulfilled') result.samples.push(outcome.value);
        else result.errors.push(`round ${round}: ${(outcome.reason as Error).message}`);
      }

      await Promise.all([cluster.addWorker(), ...sessions.map((session) => untilIdle(client, session.id))]);
      result.rounds++;
    }
  } finally {
    await db.end();
  }
  return result;
}

async function listAll(client: Anthropic, sessionId: string): Promise<{ type: string }[]> {
  const events: { type: string }[] = [];
  for await (const event of client.beta.sessions.events.list(sessionId, { limit: 1000 })) events.push(event);
  return events;
}

/** ms from `killedAt` until the session has more than `count` events. */
async function nextEventAfter(client: Anthropic, sessionId: string, count: number, killedAt: number): Promise<number> {
  for (;;) {
    const events = await listAll(client, sessionId);
    if (events.length > count) return performance.now() - killedAt;
    if (performance.now() - killedAt > TIMEOUT_MS) throw new Error(`${sessionId}: no new event within ${TIMEOUT_MS} ms of the kill`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function untilIdle(client: Anthropic, sessionId: string): Promise<void> {
  const started = performance.now();
  for (;;) {
    const events = await listAll(client, sessionId);
    const sent = events.findIndex((event) => event.type === 'user.message');
    if (sent >= 0 && events.slice(sent).some((event) => event.type === 'session.status_idle')) return;
    if (performance.now() - started > TIMEOUT_MS) throw new Error(`${sessionId}: not idle within ${TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
