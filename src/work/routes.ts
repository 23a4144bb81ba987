import { hasOpenWorkerCalls } from '../brain/worker-calls.ts';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { pageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { getEnvironment } from '../environments/store.ts';
import { OmaError } from '../errors.ts';
import {
  ackWork,
  getWork,
  heartbeatWork,
  listWork,
  NO_HEARTBEAT,
  pollWork,
  recordPoll,
  renderWork,
  stopWork,
  requeueIfWaiting,
  updateWorkMetadata,
  workStats,
} from './store.ts';

/**
 * The work routes of a self_hosted environment, W1–W8 of spec hands-and-credentials §2.1, under
 * `/v1/environments`. Who may call which is decided before any of them runs (scope.ts); here every
 * route acts in the caller's workspace: another workspace's environment is 404, an environment that
 * is not self_hosted is 400.
 */

export const DEFAULT_WORK_TTL_SECONDS = 60;
/** The API cap on `block_ms` (the SDK's poller sends exactly this). */
const MAX_BLOCK_MS = 999;
/** How often a held poll looks at the queue again. */
const POLL_RECHECK_MS = 75;

const StopBody = z.strictObject({ force: z.boolean().nullable().optional() });
const UpdateBody = z.strictObject({ metadata: z.record(z.string(), z.unknown()) });

/** Spec §2.4: base64url (no padding) of UTF-8 JSON; the SDK's worker takes `sessions_token` from it. */
export function encodeSecret(token: string, apiBaseUrl: string): string {
  return Buffer.from(JSON.stringify({ sessions_token: token, api_base_url: apiBaseUrl }), 'utf8').toString('base64url');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function workRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { db } = deps;
  const ttlSeconds = deps.workTtlSeconds ?? DEFAULT_WORK_TTL_SECONDS;
  const routes = new Hono<AppEnv>();

  /** The path's environment, checked to be this workspace's and self_hosted; its id. */
  async function environment(c: Context<AppEnv>): Promise<string> {
    const id = c.req.param('environment_id')!;
    const found = (await getEnvironment(db, c.get('principal').workspaceId, id)) as unknown as { config: { type: string } };
    if (found.config.type !== 'self_hosted') {
      throw new OmaError('invalid_request', `environment ${id} is a ${found.config.type} environment: work routes exist only for self_hosted environments`);
    }
    return id;
  }

  // W1: hold the request up to block_ms (never beyond 999 ms) until an item comes; 204 when none did.
  routes.get('/:environment_id/work/poll', async (c) => {
    const query = new Query(c);
    const blockMs = query.integer('block_ms', { min: 1, max: MAX_BLOCK_MS }) ?? 0;
    const reclaimOlderThanMs = query.integer('reclaim_older_than_ms', { min: 0, max: 7 * 86_400_000 });
    const started = Date.now();
    const environmentId = await environment(c);
    const workerId = c.req.header('anthropic-worker-id')?.trim() || undefined;
    if (workerId) await recordPoll(db, environmentId, workerId);
    const deadline = started + blockMs;
    for (;;) {
      const polled = await pollWork(db, environmentId, { workerId, reclaimOlderThanMs });
      if (polled) return c.json(renderWork(polled.row, encodeSecret(polled.token, new URL(c.req.url).origin)));
      const left = deadline - Date.now();
      if (left <= 0 || c.req.raw.signal.aborted) break;
      await sleep(Math.min(POLL_RECHECK_MS, left));
      if (Date.now() >= deadline) break;
    }
    return c.body(null, 204);
  });

  // W2: no body, no content type.
  routes.post('/:environment_id/work/:work_id/ack', async (c) => c.json(await ackWork(db, await environment(c), c.req.param('work_id'), ttlSeconds)));

  // W3
  routes.post('/:environment_id/work/:work_id/heartbeat', async (c) => {
    const query = new Query(c);
    const expected = query.string('expected_last_heartbeat') ?? NO_HEARTBEAT;
    const desired = query.integer('desired_ttl_seconds', { min: 1, max: 86_400 });
    return c.json(await heartbeatWork(db, await environment(c), c.req.param('work_id'), { expected, ttlSeconds: desired ?? ttlSeconds }));
  });

  // W4: the worker sends {"force":true}, the poller's auto-stop {}.
  routes.post('/:environment_id/work/:work_id/stop', async (c) => {
    const environmentId = await environment(c);
    const body = await jsonBody(c, StopBody);
    const stopped = await stopWork(db, environmentId, c.req.param('work_id'), body.force === true);
    // A call may have arrived while the worker was letting go: the session then needs the next worker.
    if (stopped.state === 'stopped') await requeueIfWaiting(db, stopped.data.id, (id) => hasOpenWorkerCalls(db, id));
    return c.json(stopped);
  });

  // W5
  routes.get('/:environment_id/work/stats', async (c) => c.json(await workStats(db, await environment(c))));

  // W6: newest first.
  routes.get('/:environment_id/work', async (c) => {
    const page = pageRequest(new Query(c), { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'desc' });
    return c.json(await listWork(db, await environment(c), page));
  });

  // W7: `secret` is null everywhere but in a poll response.
  routes.get('/:environment_id/work/:work_id', async (c) => c.json(await getWork(db, await environment(c), c.req.param('work_id'))));

  // W8: a metadata patch, null deletes.
  routes.post('/:environment_id/work/:work_id', async (c) => {
    const environmentId = await environment(c);
    const body = await jsonBody(c, UpdateBody);
    return c.json(await updateWorkMetadata(db, environmentId, c.req.param('work_id'), body.metadata));
  });

  return routes;
}
