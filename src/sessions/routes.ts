import { Hono, type Context } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { createMetadata, patchMetadata } from '../api/metadata.ts';
import { keyset, pageRequest, toPage } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { getEnvironment } from '../environments/store.ts';
import { isOmaError, OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import { replaceTools, resolveSessionAgent, type SessionAgent } from './agent.ts';
import { appendClientEvents, assertWritable, checkFileReferences, listEvents, parseEvents, sendEvents } from './events.ts';
import { isBusy, renderSession, SESSION_COLUMNS, STATUS_SQL, type SessionRow } from './render.ts';
import { buildResource, resourceRoutes } from './resources.ts';
import { CreateSession, UpdateSession } from './schema.ts';
import { deleteSession, getResources, getSessionRow, insertSession, setStatus, type NewResource } from './store.ts';
import { streamEvents } from './stream.ts';
import { threadRoutes } from './threads.ts';
import { assertUsableVaults } from '../vaults/store.ts';
import { ensureWorkItem } from '../work/store.ts';
import { z } from 'zod';

/** `/v1/sessions…` (spec §4, §5, §6). */
export function sessionRoutes(deps: ApiDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const workspace = (c: Context<AppEnv>) => c.get('principal').workspaceId;

  async function respond(c: Context<AppEnv>, id: string) {
    const row = await getSessionRow(deps.db, workspace(c), id);
    return c.json(renderSession(row, (await getResources(deps.db, [id])).get(id)!));
  }

  routes.post('/', async (c) => {
    const body = await jsonBody(c, CreateSession);
    const workspaceId = workspace(c);
    const agent = await resolveSessionAgent(deps.db, workspaceId, body.agent);
    const environment = (await getEnvironment(deps.db, workspaceId, body.environment_id)) as unknown as { archived_at: string | null; config: { type: string } };
    if (environment.archived_at) {
      throw new OmaError('invalid_request', `environment ${body.environment_id} is archived; new sessions cannot use it`, { details: { error_code: 'environment_archived' } });
    }
    const selfHosted = environment.config.type === 'self_hosted';
    // One by one: ids are time-ordered, and resources keep the order they were given in.
    const resources: NewResource[] = [];
    for (const [index, params] of (body.resources ?? []).entries()) {
      resources.push(await buildResource(deps.db, workspaceId, params, { selfHosted, path: `resources.${index}`, secrets: deps.secrets }));
    }
    const initialEvents = body.initial_events ? parseEvents(body.initial_events, { path: 'initial_events', allowed: ['user.message', 'user.define_outcome'] }) : [];
    await checkFileReferences(deps.db, workspaceId, initialEvents, 'initial_events');
    const id = newId('sesn');
    await deps.db.transaction(async (tx) => {
      // Hold the environment against a concurrent delete until the session that uses it exists.
      const held = await tx.query('SELECT archived_at FROM environments WHERE id = $1 AND workspace_id = $2 FOR SHARE', [body.environment_id, workspaceId]);
      if (held.rowCount === 0 || (held.rows[0] as { archived_at: Date | null }).archived_at) {
        throw new OmaError('invalid_request', `environment ${body.environment_id} was deleted or archived meanwhile`);
      }
      // Every vault must be this workspace's and not archived (404 naming it), held until the session exists.
      await assertUsableVaults(tx, workspaceId, body.vault_ids ?? []);
      await insertSession(
        tx,
        {
          id,
          workspaceId,
          agent,
          environmentId: body.environment_id,
          title: body.title ?? null,
          metadata: createMetadata(body.metadata),
          vaultIds: body.vault_ids ?? [],
          budget: body.budget ?? null,
        },
        resources,
      );
    });
    if (initialEvents.length > 0) {
      try {
        await appendClientEvents(deps, await getSessionRow(deps.db, workspaceId, id), initialEvents);
      } catch (error) {
        await deleteSession(deps.db, id); // all or nothing: a create that fails leaves no session
        throw error;
      }
    }
    // A self_hosted session needs a worker's hands: queue its work item (spec hands §2.5).
    if (selfHosted) await ensureWorkItem(deps.db, { id, workspaceId, environmentId: body.environment_id });
    return respond(c, id);
  });

  routes.get('/', async (c) => {
    const query = new Query(c);
    const request = pageRequest(query, { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'desc', orderParam: true });
    const params: unknown[] = [workspace(c)];
    const conditions = ['workspace_id = $1'];
    if (!query.boolean('include_archived')) conditions.push('archived_at IS NULL');
    const statuses = query.list('statuses');
    for (const status of statuses) {
      if (!['idle', 'running', 'rescheduling', 'terminated'].includes(status)) throw new OmaError('invalid_request', `statuses: ${JSON.stringify(status)} is not a session status`);
    }
    if (statuses.length > 0) conditions.push(`${STATUS_SQL} = ANY($${params.push(statuses)}::text[])`);
    const agentId = query.string('agent_id');
    const agentVersion = query.integer('agent_version', { min: 1 });
    if (agentVersion !== undefined && agentId === undefined) throw new OmaError('invalid_request', 'agent_version needs agent_id');
    if (agentId !== undefined) conditions.push(`agent_id = $${params.push(agentId)}`);
    if (agentVersion !== undefined) conditions.push(`agent_version = $${params.push(agentVersion)}`);
    // Sessions made by deployments or attached to memory stores do not exist here yet: those filters match nothing.
    if (query.string('deployment_id') !== undefined) conditions.push('FALSE');
    const memoryStore = query.string('memory_store_id');
    if (memoryStore !== undefined) {
      conditions.push(`EXISTS (SELECT 1 FROM session_resources r WHERE r.session_id = sessions.id AND r.type = 'memory_store' AND r.body->>'memory_store_id' = $${params.push(memoryStore)})`);
    }
    for (const [name, operator] of [['gt', '>'], ['gte', '>='], ['lt', '<'], ['lte', '<=']] as const) {
      const value = query.timestamp(`created_at[${name}]`);
      if (value) conditions.push(`created_at ${operator} $${params.push(value.toISOString())}::timestamptz`);
    }
    const page = keyset('id', request, params);
    const { rows } = await deps.db.query<SessionRow>(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE ${conditions.join(' AND ')} AND ${page.where} ORDER BY ${page.orderBy} ${page.limit}`,
      params,
    );
    const resources = await getResources(deps.db, rows.map((row) => row.id));
    return c.json(toPage(rows, request, (row) => row.id, (row) => renderSession(row, resources.get(row.id)!), { bidirectional: true }));
  });

  routes.get('/:session_id', (c) => respond(c, c.req.param('session_id')));

  routes.post('/:session_id', async (c) => {
    const body = await jsonBody(c, UpdateSession);
    const id = c.req.param('session_id');
    if (body.vault_ids !== undefined) throw new OmaError('invalid_request', 'vault_ids cannot be changed after a session is created');
    const changed = await deps.db.transaction(async (tx) => {
      const row = await getSessionRow(tx, workspace(c), id, { forUpdate: true });
      assertWritable(row);
      const changes: Record<string, unknown> = {};
      if (body.title !== undefined && body.title !== row.title) changes.title = body.title;
      if (body.metadata !== undefined && body.metadata !== null) {
        const metadata = patchMetadata(row.metadata, body.metadata);
        if (JSON.stringify(metadata) !== JSON.stringify(row.metadata)) changes.metadata = metadata;
      }
      if (body.budget !== undefined) {
        if (row.budget === null && body.budget !== null) {
          throw new OmaError('invalid_request', 'a budget can only be set when the session is created', { details: { error_code: 'budget_create_only' } });
        }
        if (JSON.stringify(body.budget) !== JSON.stringify(row.budget)) changes.budget = body.budget;
      }
      if (body.agent && (body.agent.tools !== undefined || body.agent.mcp_servers !== undefined)) {
        if (isBusy(row.status)) throw new OmaError('invalid_request', `session ${id} is running; change its tools when it is idle (they apply from the next turn)`);
        const agent = structuredClone(row.agent) as SessionAgent;
        replaceTools(agent, body.agent, 'agent');
        if (JSON.stringify(agent) !== JSON.stringify(row.agent)) changes.agent = agent;
      }
      if (Object.keys(changes).length === 0) return undefined;
      await tx.query(
        `UPDATE sessions SET title = $2, metadata = $3::jsonb, budget = $4::jsonb, agent = $5::jsonb, updated_at = now() WHERE id = $1`,
        [
          id,
          'title' in changes ? changes.title : row.title,
          JSON.stringify(changes.metadata ?? row.metadata),
          'budget' in changes ? (changes.budget === null ? null : JSON.stringify(changes.budget)) : row.budget === null ? null : JSON.stringify(row.budget),
          JSON.stringify(changes.agent ?? row.agent),
        ],
      );
      return changes;
    });
    if (changed) await deps.sessionLog.append(id, [{ type: 'session.updated', payload: changed }]);
    return respond(c, id);
  });

  routes.post('/:session_id/archive', async (c) => {
    const id = c.req.param('session_id');
    const row = await getSessionRow(deps.db, workspace(c), id);
    if (!row.archived_at) {
      if (isBusy(row.status)) throw new OmaError('invalid_request', `session ${id} is running; interrupt it or wait for it to go idle before archiving`);
      // The terminal event closes the log in the same step, so no send can land after it, and of
      // concurrent archives only one records it.
      await ignoreClosed(deps.sessionLog.append(id, [{ type: 'session.status_terminated', payload: {} }], { close: true }));
      await setStatus(deps.db, id, 'terminated', { archive: true });
    }
    return respond(c, id);
  });

  routes.delete('/:session_id', async (c) => {
    const id = c.req.param('session_id');
    const row = await getSessionRow(deps.db, workspace(c), id);
    if (isBusy(row.status)) throw new OmaError('invalid_request', `session ${id} is running; interrupt it or wait for it to go idle before deleting`);
    // Open streams see the deletion before the log is gone (an archived session's log is already closed).
    await ignoreClosed(deps.sessionLog.append(id, [{ type: 'session.deleted', payload: {} }], { close: true }));
    await deleteSession(deps.db, id);
    return c.json({ id, type: 'session_deleted' });
  });

  routes.post('/:session_id/events', async (c) => c.json(await sendEvents(c, deps, await jsonBody(c, z.strictObject({ events: z.unknown() })))));
  routes.get('/:session_id/events', async (c) => c.json(await listEvents(c, deps)));
  routes.get('/:session_id/events/stream', (c) => streamEvents(c, deps));
  routes.route('/:session_id/resources', resourceRoutes(deps));
  routes.route('/:session_id/threads', threadRoutes(deps));
  return routes;
}

/** A log that is already closed has its terminal event: nothing more to record. */
async function ignoreClosed(append: Promise<unknown>) {
  try {
    await append;
  } catch (error) {
    if (!(isOmaError(error, 'conflict') && error.details?.error_code === 'session_log_closed')) throw error;
  }
}
