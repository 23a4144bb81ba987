import type { BetaManagedAgentsAgent } from '@anthropic-ai/sdk/resources/beta/agents/agents';
import { keyset, toPage, type PageRequest } from '../api/pagination.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { AgentConfig } from './config.ts';
import { resolveMultiagent, type AgentLookup } from './multiagent.ts';
import { orderedConfig, renderAgent, type AgentRow } from './render.ts';
import { applyUpdate, resolveCreate } from './resolve.ts';
import type { CreateAgentBody, UpdateAgentBody } from './schema.ts';

/**
 * Agents and their immutable versions (tables `agents` and `agent_versions`, migration 0002).
 * `agents` holds what belongs to the agent (workspace, creation and archive times, latest version);
 * each `agent_versions` row is one full configuration, never changed after it is written. Every
 * query is scoped by workspace: another workspace's agent does not exist (404).
 */

const SELECT_ROW = `SELECT a.id, a.created_at, a.archived_at, v.version, v.config, v.created_at AS updated_at
  FROM agents a JOIN agent_versions v ON v.agent_id = a.id`;

function notFound(id: string, version?: number): never {
  throw new OmaError('not_found', version === undefined ? `there is no agent ${id}` : `agent ${id} has no version ${version}`);
}

/** One version of an agent of the workspace (latest when `version` is omitted), or undefined. */
async function findRow(db: Queryable, workspaceId: string, id: string, version?: number): Promise<AgentRow | undefined> {
  const { rows } = await db.query<AgentRow>(`${SELECT_ROW} AND v.version = COALESCE($3::integer, a.latest_version) WHERE a.id = $1 AND a.workspace_id = $2`, [
    id,
    workspaceId,
    version ?? null,
  ]);
  return rows[0];
}

async function loadRow(db: Queryable, workspaceId: string, id: string, version?: number): Promise<AgentRow> {
  const row = await findRow(db, workspaceId, id, version);
  if (row) return row;
  // Say which is missing: the agent, or only that version of it.
  if (version !== undefined && (await findRow(db, workspaceId, id))) notFound(id, version);
  return notFound(id);
}

/** Resolves multiagent references among the workspace's agents, inside the writing transaction. */
function lookupIn(db: Queryable, workspaceId: string): AgentLookup {
  return async (id, version) => {
    const row = await findRow(db, workspaceId, id, version);
    return row && { version: row.version, archived: row.archived_at !== null, hasMultiagent: row.config.multiagent !== null };
  };
}

/**
 * The agent as the SDK's `BetaManagedAgentsAgent` at `version` (latest when omitted). Throws
 * OmaError `not_found` for an unknown id, another workspace's agent, or a version that does not
 * exist. Archived agents are returned (with `archived_at` set): callers that must refuse them
 * (session create) check `archived_at` themselves.
 */
export async function getAgent(db: Queryable, workspaceId: string, id: string, version?: number): Promise<BetaManagedAgentsAgent> {
  return renderAgent(await loadRow(db, workspaceId, id, version));
}

async function insertVersion(db: Queryable, workspaceId: string, id: string, version: number, config: AgentConfig, at: Date): Promise<void> {
  await db.query('INSERT INTO agent_versions (agent_id, version, workspace_id, config, created_at) VALUES ($1, $2, $3, $4::json, $5::timestamptz)', [
    id,
    version,
    workspaceId,
    JSON.stringify(orderedConfig(config)),
    at.toISOString(),
  ]);
}

export async function createAgent(db: Db, workspaceId: string, body: CreateAgentBody): Promise<BetaManagedAgentsAgent> {
  const resolved = resolveCreate(body);
  return db.transaction(async (tx) => {
    const config = orderedConfig({ ...resolved, multiagent: await resolveMultiagent(body.multiagent, null, undefined, lookupIn(tx, workspaceId)) });
    const now = new Date();
    const id = newId('agent', now.getTime());
    await tx.query('INSERT INTO agents (id, workspace_id, latest_version, created_at) VALUES ($1, $2, 1, $3::timestamptz)', [id, workspaceId, now.toISOString()]);
    await insertVersion(tx, workspaceId, id, 1, config, now);
    return renderAgent({ id, version: 1, config, created_at: now, updated_at: now, archived_at: null });
  });
}

/**
 * Apply an update (spec §2.3). Serialised per agent by a row lock, so concurrent updates make
 * consecutive versions and none is lost. Archived → 409 `agent_archived`; `version` given and not
 * the latest → 409 `version_conflict`. An update that changes nothing returns the current version
 * without making a new one (spec ⚠, recommended).
 */
export async function updateAgent(db: Db, workspaceId: string, id: string, body: UpdateAgentBody): Promise<BetaManagedAgentsAgent> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ latest_version: number; archived_at: Date | null }>(
      'SELECT latest_version, archived_at FROM agents WHERE id = $1 AND workspace_id = $2 FOR UPDATE',
      [id, workspaceId],
    );
    const head = rows[0] ?? notFound(id);
    if (head.archived_at) {
      throw new OmaError('conflict', `agent ${id} is archived and cannot be changed`, { details: { error_code: 'agent_archived' } });
    }
    if (body.version !== undefined && body.version !== head.latest_version) {
      throw new OmaError('conflict', `version ${body.version} is not the current version of agent ${id} (the current version is ${head.latest_version}); retrieve it and apply the change again`, {
        details: { error_code: 'version_conflict', current_version: head.latest_version },
      });
    }
    const current = await loadRow(tx, workspaceId, id, head.latest_version);
    const next = orderedConfig({
      ...applyUpdate(current.config, body),
      multiagent: await resolveMultiagent(body.multiagent, current.config.multiagent, id, lookupIn(tx, workspaceId)),
    });
    if (JSON.stringify(next) === JSON.stringify(orderedConfig(current.config))) return renderAgent(current);

    const version = head.latest_version + 1;
    const now = new Date();
    await insertVersion(tx, workspaceId, id, version, next, now);
    await tx.query('UPDATE agents SET latest_version = $3 WHERE id = $1 AND workspace_id = $2', [id, workspaceId, version]);
    return renderAgent({ ...current, version, config: next, updated_at: now });
  });
}

/** Archive (spec §1.7): sets `archived_at` once; archiving again returns the agent unchanged (⚠). */
export async function archiveAgent(db: Queryable, workspaceId: string, id: string): Promise<BetaManagedAgentsAgent> {
  const { rowCount } = await db.query('UPDATE agents SET archived_at = COALESCE(archived_at, $3::timestamptz) WHERE id = $1 AND workspace_id = $2', [
    id,
    workspaceId,
    new Date().toISOString(),
  ]);
  if (rowCount === 0) notFound(id);
  return getAgent(db, workspaceId, id);
}

export interface ListAgentsOptions {
  page: PageRequest;
  includeArchived: boolean;
  createdAtGte?: Date;
  createdAtLte?: Date;
}

function checkCursor(page: PageRequest, kind: 'string' | 'number'): void {
  if (page.after !== undefined && typeof page.after !== kind) throw new OmaError('invalid_request', 'page is not a cursor of this list');
}

/** The latest version of each agent, newest agent first. */
export async function listAgents(db: Queryable, workspaceId: string, options: ListAgentsOptions) {
  checkCursor(options.page, 'string');
  const params: unknown[] = [workspaceId];
  const conditions = ['a.workspace_id = $1'];
  if (!options.includeArchived) conditions.push('a.archived_at IS NULL');
  if (options.createdAtGte) conditions.push(`a.created_at >= $${params.push(options.createdAtGte.toISOString())}::timestamptz`);
  if (options.createdAtLte) conditions.push(`a.created_at <= $${params.push(options.createdAtLte.toISOString())}::timestamptz`);
  const page = keyset('a.id', options.page, params);
  const { rows } = await db.query<AgentRow>(
    `${SELECT_ROW} AND v.version = a.latest_version WHERE ${conditions.join(' AND ')} AND ${page.where} ORDER BY ${page.orderBy} ${page.limit}`,
    params,
  );
  return toPage(rows, options.page, (row) => row.id, renderAgent);
}

/** Every version of one agent, newest first: one full agent object per version. */
export async function listVersions(db: Queryable, workspaceId: string, id: string, request: PageRequest) {
  checkCursor(request, 'number');
  const { rowCount } = await db.query('SELECT 1 FROM agents WHERE id = $1 AND workspace_id = $2', [id, workspaceId]);
  if (rowCount === 0) notFound(id);
  const params: unknown[] = [id, workspaceId];
  const page = keyset('v.version', request, params);
  const { rows } = await db.query<AgentRow>(`${SELECT_ROW} WHERE a.id = $1 AND a.workspace_id = $2 AND ${page.where} ORDER BY ${page.orderBy} ${page.limit}`, params);
  return toPage(rows, request, (row) => row.version, renderAgent);
}
