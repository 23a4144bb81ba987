import type { BetaEnvironment, BetaEnvironmentDeleteResponse } from '@anthropic-ai/sdk/resources/beta/environments/environments';
import { isDeepStrictEqual } from 'node:util';
import { createMetadata, patchMetadata } from '../api/metadata.ts';
import { keyset, toPage, type PageRequest } from '../api/pagination.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import { resolveConfig, type EnvironmentConfig } from './config.ts';
import type { CreateBody, UpdateBody } from './params.ts';
import { countLiveSessions } from './references.ts';

/**
 * Environments in the database (table `environments`, migration 0003). Every query is scoped to one
 * workspace: another workspace's environment is indistinguishable from a missing one (404
 * `environment_not_found`).
 */

interface EnvironmentRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  config: EnvironmentConfig;
  metadata: Record<string, string>;
  scope: 'organization' | 'account';
  created_at: Date;
  updated_at: Date;
  archived_at: Date | null;
}

/** The SDK's `BetaEnvironment`: every key present, timestamps RFC 3339 with ms. */
function render(row: EnvironmentRow): BetaEnvironment {
  return {
    type: 'environment',
    id: row.id,
    name: row.name,
    description: row.description,
    config: row.config,
    metadata: row.metadata,
    scope: row.scope,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    archived_at: row.archived_at?.toISOString() ?? null,
  };
}

function notFound(id: string): OmaError {
  return new OmaError('not_found', `environment ${JSON.stringify(id)} was not found`, { details: { error_code: 'environment_not_found' } });
}

/** Postgres unique violation on the name index → 409 (the SDK is told not to retry it). */
function nameTaken(error: unknown, name: string): unknown {
  const { code, constraint } = error as { code?: string; constraint?: string };
  if (code !== '23505' || constraint !== 'environments_name_unique') return error;
  return new OmaError('conflict', `an environment named ${JSON.stringify(name)} already exists in this workspace (archive or rename it first)`, {
    details: { error_code: 'environment_name_taken' },
    cause: error,
  });
}

async function findRow(db: Queryable, workspaceId: string, id: string, lock = false): Promise<EnvironmentRow> {
  const { rows } = await db.query<EnvironmentRow>(
    `SELECT * FROM environments WHERE workspace_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
    [workspaceId, id],
  );
  if (rows[0] === undefined) throw notFound(id);
  return rows[0];
}

/** The environment as the SDK's BetaEnvironment. Throws OmaError not_found (details.error_code environment_not_found) for an unknown id or another workspace's. */
export async function getEnvironment(db: Queryable, workspaceId: string, id: string): Promise<BetaEnvironment> {
  return render(await findRow(db, workspaceId, id));
}

export async function createEnvironment(db: Queryable, workspaceId: string, body: CreateBody): Promise<BetaEnvironment> {
  const config = resolveConfig(undefined, body.config);
  const metadata = createMetadata(body.metadata);
  const now = new Date();
  try {
    const { rows } = await db.query<EnvironmentRow>(
      `INSERT INTO environments (id, workspace_id, name, description, config, metadata, scope, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, 'organization', $7, $7) RETURNING *`,
      [newId('env', now.getTime()), workspaceId, body.name, body.description ?? null, JSON.stringify(config), JSON.stringify(metadata), now.toISOString()],
    );
    return render(rows[0]!);
  } catch (error) {
    throw nameTaken(error, body.name);
  }
}

/**
 * Spec §3.3: omitted fields keep their value; `config` merges (see `resolveConfig`); metadata is a
 * patch where null and `""` delete. An archived environment is read-only: 400 `environment_archived`.
 * An update that changes nothing leaves `updated_at` alone (⚠).
 */
export async function updateEnvironment(db: Db, workspaceId: string, id: string, body: UpdateBody): Promise<BetaEnvironment> {
  try {
    return await db.transaction(async (tx) => {
      const stored = await findRow(tx, workspaceId, id, true);
      if (stored.archived_at !== null) {
        throw new OmaError('invalid_request', `environment ${id} is archived and cannot be updated`, { details: { error_code: 'environment_archived' } });
      }
      const next = {
        name: body.name ?? stored.name,
        description: body.description === undefined ? stored.description : body.description,
        config: resolveConfig(stored.config, body.config),
        metadata: patchMetadata(stored.metadata, body.metadata, { emptyDeletes: true }),
      };
      const unchanged =
        next.name === stored.name &&
        next.description === stored.description &&
        isDeepStrictEqual(next.config, stored.config) &&
        isDeepStrictEqual(next.metadata, stored.metadata);
      if (unchanged) return render(stored);
      const { rows } = await tx.query<EnvironmentRow>(
        `UPDATE environments SET name = $3, description = $4, config = $5::jsonb, metadata = $6::jsonb, updated_at = $7
         WHERE workspace_id = $1 AND id = $2 RETURNING *`,
        [workspaceId, id, next.name, next.description, JSON.stringify(next.config), JSON.stringify(next.metadata), new Date().toISOString()],
      );
      return render(rows[0]!);
    });
  } catch (error) {
    throw nameTaken(error, body.name ?? '');
  }
}

/** Newest first (⚠ spec leaves the order open); archived ones only with `includeArchived`. */
export async function listEnvironments(
  db: Queryable,
  workspaceId: string,
  options: { page: PageRequest; includeArchived: boolean },
): Promise<{ data: BetaEnvironment[]; next_page: string | null }> {
  const params: unknown[] = [workspaceId];
  const { where, orderBy, limit } = keyset('id', options.page, params);
  const archived = options.includeArchived ? '' : ' AND archived_at IS NULL';
  const { rows } = await db.query<EnvironmentRow>(
    `SELECT * FROM environments WHERE workspace_id = $1${archived} AND ${where} ORDER BY ${orderBy} ${limit}`,
    params,
  );
  const page = toPage(rows, options.page, (row) => row.id, render);
  return { data: page.data, next_page: page.next_page };
}

/**
 * Archive: read-only from now on, hidden from default lists, its name free again. Archiving an
 * archived environment returns it unchanged (⚠: idempotent, so a retried archive succeeds).
 */
export async function archiveEnvironment(db: Queryable, workspaceId: string, id: string): Promise<BetaEnvironment> {
  const now = new Date().toISOString();
  const { rows } = await db.query<EnvironmentRow>(
    `UPDATE environments SET archived_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2 AND archived_at IS NULL RETURNING *`,
    [workspaceId, id, now],
  );
  return rows[0] === undefined ? getEnvironment(db, workspaceId, id) : render(rows[0]);
}

/**
 * Delete for good. Refused with 409 `environment_in_use` while a session that is not terminated
 * references the environment (spec §3.4 ⚠ recommendation). The row is locked first, so the check and
 * the delete see the same state (session create should lock the row `FOR SHARE`, see references.ts).
 * `liveSessions` is replaceable for tests.
 */
export async function deleteEnvironment(
  db: Db,
  workspaceId: string,
  id: string,
  liveSessions: typeof countLiveSessions = countLiveSessions,
): Promise<BetaEnvironmentDeleteResponse> {
  return db.transaction(async (tx) => {
    await findRow(tx, workspaceId, id, true);
    const live = await liveSessions(tx, workspaceId, id);
    if (live > 0) {
      throw new OmaError('conflict', `environment ${id} is used by ${live} session(s) that are not terminated; archive or delete them first`, {
        details: { error_code: 'environment_in_use' },
      });
    }
    await tx.query('DELETE FROM environments WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
    return { type: 'environment_deleted', id };
  });
}
