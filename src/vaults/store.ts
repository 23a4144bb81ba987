import type { BetaManagedAgentsDeletedVault, BetaManagedAgentsVault } from '@anthropic-ai/sdk/resources/beta/vaults/vaults';
import { isDeepStrictEqual } from 'node:util';
import { createMetadata, patchMetadata } from '../api/metadata.ts';
import { keyset, toPage, type PageRequest } from '../api/pagination.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { VaultCreateBody, VaultUpdateBody } from './params.ts';

/**
 * Vaults in the database (table `vaults`, migration 0010). Every query is scoped to one workspace:
 * another workspace's vault is indistinguishable from a missing one (404 `vault_not_found`).
 */

export interface VaultRow {
  id: string;
  workspace_id: string;
  display_name: string;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
  archived_at: Date | null;
}

/** The SDK's `BetaManagedAgentsVault`: every key present, timestamps RFC 3339 with ms. */
function render(row: VaultRow): BetaManagedAgentsVault {
  return {
    type: 'vault',
    id: row.id,
    display_name: row.display_name,
    metadata: row.metadata,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    archived_at: row.archived_at?.toISOString() ?? null,
  };
}

export function vaultNotFound(id: string): OmaError {
  return new OmaError('not_found', `vault ${JSON.stringify(id)} was not found`, { details: { error_code: 'vault_not_found' } });
}

/** The vault row; `lock` takes it FOR UPDATE (credential writes serialise on their vault). */
export async function findVaultRow(db: Queryable, workspaceId: string, id: string, lock: 'update' | 'share' | false = false): Promise<VaultRow> {
  const suffix = lock === 'update' ? ' FOR UPDATE' : lock === 'share' ? ' FOR SHARE' : '';
  const { rows } = await db.query<VaultRow>(`SELECT * FROM vaults WHERE workspace_id = $1 AND id = $2${suffix}`, [workspaceId, id]);
  if (rows[0] === undefined) throw vaultNotFound(id);
  return rows[0];
}

export async function getVault(db: Queryable, workspaceId: string, id: string): Promise<BetaManagedAgentsVault> {
  return render(await findVaultRow(db, workspaceId, id));
}

/**
 * For session create: every id must be a vault of the workspace that is not archived, else 404
 * naming the first that is not. With `tx`, the vaults are held FOR SHARE until it ends.
 */
export async function assertUsableVaults(db: Queryable, workspaceId: string, vaultIds: readonly string[]): Promise<void> {
  if (vaultIds.length === 0) return;
  const { rows } = await db.query<{ id: string }>('SELECT id FROM vaults WHERE workspace_id = $1 AND id = ANY($2::text[]) AND archived_at IS NULL FOR SHARE', [
    workspaceId,
    [...new Set(vaultIds)],
  ]);
  const found = new Set(rows.map((row) => row.id));
  const missing = vaultIds.find((id) => !found.has(id));
  if (missing !== undefined) {
    throw new OmaError('not_found', `vault_ids: vault ${JSON.stringify(missing)} was not found in this workspace (or is archived)`, { details: { error_code: 'vault_not_found' } });
  }
}

export async function createVault(db: Queryable, workspaceId: string, body: VaultCreateBody): Promise<BetaManagedAgentsVault> {
  const metadata = createMetadata(body.metadata);
  const now = new Date();
  const { rows } = await db.query<VaultRow>(
    `INSERT INTO vaults (id, workspace_id, display_name, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $5) RETURNING *`,
    [newId('vlt', now.getTime()), workspaceId, body.display_name, JSON.stringify(metadata), now.toISOString()],
  );
  return render(rows[0]!);
}

/** Omitted or null `display_name` keeps it; metadata is a patch (null deletes). An update that changes nothing leaves `updated_at` alone. */
export async function updateVault(db: Db, workspaceId: string, id: string, body: VaultUpdateBody): Promise<BetaManagedAgentsVault> {
  return db.transaction(async (tx) => {
    const stored = await findVaultRow(tx, workspaceId, id, 'update');
    if (stored.archived_at !== null) {
      throw new OmaError('invalid_request', `vault ${id} is archived and cannot be updated`, { details: { error_code: 'vault_archived' } });
    }
    const next = { display_name: body.display_name ?? stored.display_name, metadata: patchMetadata(stored.metadata, body.metadata) };
    if (next.display_name === stored.display_name && isDeepStrictEqual(next.metadata, stored.metadata)) return render(stored);
    const { rows } = await tx.query<VaultRow>(
      'UPDATE vaults SET display_name = $3, metadata = $4::jsonb, updated_at = $5 WHERE workspace_id = $1 AND id = $2 RETURNING *',
      [workspaceId, id, next.display_name, JSON.stringify(next.metadata), new Date().toISOString()],
    );
    return render(rows[0]!);
  });
}

/** Newest first; archived vaults only with `includeArchived`. */
export async function listVaults(
  db: Queryable,
  workspaceId: string,
  options: { page: PageRequest; includeArchived: boolean },
): Promise<{ data: BetaManagedAgentsVault[]; next_page: string | null }> {
  const params: unknown[] = [workspaceId];
  const { where, orderBy, limit } = keyset('id', options.page, params);
  const archived = options.includeArchived ? '' : ' AND archived_at IS NULL';
  const { rows } = await db.query<VaultRow>(`SELECT * FROM vaults WHERE workspace_id = $1${archived} AND ${where} ORDER BY ${orderBy} ${limit}`, params);
  const page = toPage(rows, options.page, (row) => row.id, render);
  return { data: page.data, next_page: page.next_page };
}

/**
 * Archive: read-only from now on, no new credentials, hidden from default lists, and its credentials
 * are no longer used by sessions (`findMcpCredential` skips archived vaults). Idempotent.
 */
export async function archiveVault(db: Queryable, workspaceId: string, id: string): Promise<BetaManagedAgentsVault> {
  const now = new Date().toISOString();
  const { rows } = await db.query<VaultRow>(
    'UPDATE vaults SET archived_at = $3, updated_at = $3 WHERE workspace_id = $1 AND id = $2 AND archived_at IS NULL RETURNING *',
    [workspaceId, id, now],
  );
  return rows[0] === undefined ? getVault(db, workspaceId, id) : render(rows[0]);
}

/** Delete for good, with its credentials (ON DELETE CASCADE). Sessions keep the id in `vault_ids`; it just matches nothing any more. */
export async function deleteVault(db: Queryable, workspaceId: string, id: string): Promise<BetaManagedAgentsDeletedVault> {
  const { rowCount } = await db.query('DELETE FROM vaults WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  if (rowCount === 0) throw vaultNotFound(id);
  return { type: 'vault_deleted', id };
}
