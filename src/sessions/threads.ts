import { Hono, type Context } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';
import { pageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { OmaError } from '../errors.ts';
import { listEvents } from './events.ts';
import type { SessionRow } from './render.ts';
import { getSessionRow } from './store.ts';
import { streamEvents } from './stream.ts';

/**
 * Session threads (spec §7). oma runs single-agent sessions: each has exactly one thread, its primary,
 * whose status, agent and events are the session's. Multiagent threads would be listed here too.
 */

function renderThread(session: SessionRow) {
  const { multiagent: _multiagent, ...agent } = session.agent;
  return {
    type: 'session_thread' as const,
    id: session.primary_thread_id,
    session_id: session.id,
    parent_thread_id: null,
    status: session.status,
    agent,
    stats: {
      active_seconds: session.active_seconds,
      duration_seconds: Math.max(0, ((session.terminated_at ?? new Date()).getTime() - session.created_at.getTime()) / 1000),
      startup_seconds: 0,
    },
    usage: null,
    workflow_run_id: null,
    created_at: session.created_at.toISOString(),
    updated_at: session.updated_at.toISOString(),
    archived_at: session.archived_at?.toISOString() ?? null,
  };
}

export function threadRoutes(deps: ApiDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const session = (c: Context<AppEnv>) => getSessionRow(deps.db, c.get('principal').workspaceId, c.req.param('session_id')!);
  const thread = async (c: Context<AppEnv>) => {
    const row = await session(c);
    if (c.req.param('thread_id') !== row.primary_thread_id) throw new OmaError('not_found', `session ${row.id} has no thread ${c.req.param('thread_id')}`);
    return row;
  };

  routes.get('/', async (c) => {
    const row = await session(c);
    const query = new Query(c);
    const request = pageRequest(query, { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'asc' });
    const statuses = query.list('statuses');
    const threads = [renderThread(row)].filter((item) => statuses.length === 0 || statuses.includes(item.status));
    // One thread at most: a cursor past it is the end.
    return c.json({ data: request.after === undefined ? threads : [], next_page: null });
  });
  routes.get('/:thread_id', async (c) => c.json(renderThread(await thread(c))));
  routes.post('/:thread_id/archive', async (c) => {
    await thread(c);
    throw new OmaError('invalid_request', 'the primary thread ends with its session: archive the session instead');
  });
  routes.get('/:thread_id/events', async (c) => {
    await thread(c);
    return c.json(await listEvents(c, deps));
  });
  routes.get('/:thread_id/stream', async (c) => {
    await thread(c);
    return streamEvents(c, deps);
  });
  return routes;
}
