import type { BetaManagedAgentsCredential, BetaManagedAgentsDeletedCredential } from '@anthropic-ai/sdk/resources/beta/vaults/credentials';
import { isDeepStrictEqual } from 'node:util';
import { createMetadata, patchMetadata } from '../api/metadata.ts';
import { keyset, toPage, type PageRequest } from '../api/pagination.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import { authFromCreate, authFromUpdate, describeMatchKey, matchKey, type CredentialAuth } from './auth.ts';
import type { SecretBox } from './crypto.ts';
import { LIMITS, type CredentialCreateBody, type CredentialUpdateBody } from './params.ts';
import { openCredentialSecrets, requireSecrets, sealCredentialSecrets } from './secrets.ts';
import { findVaultRow } from './store.ts';

/**
 * Vault credentials in the database (table `vault_credentials`, migration 0010). Scoped to the
 * caller's workspace and the vault in the path: anything else is 404 `credential_not_found`. The
 * `secret` column is never rendered; nothing here puts a secret into an error message.
 */

export interface CredentialRow {
  id: string;
  vault_id: string;
  workspace_id: string;
  type: CredentialAuth['type'];
  auth: CredentialAuth;
  secret: string;
  match_key: string;
  display_name: string | null;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date;
  archived_at: Date | null;
}

export function renderCredential(row: CredentialRow): BetaManagedAgentsCredential {
  return {
    type: 'vault_credential',
    id: row.id,
    vault_id: row.vault_id,
    auth: row.auth,
    display_name: row.display_name,
    metadata: row.metadata,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    archived_at: row.archived_at?.toISOString() ?? null,
  };
}

function notFound(id: string): OmaError {
  return new OmaError('not_found', `credential ${JSON.stringify(id)} was not found in this vault`, { details: { error_code: 'credential_not_found' } });
}

/** Unique violation on (vault, mcp_server_url | secret_name) among active credentials → 409. */
function duplicate(error: unknown, auth: CredentialAuth): unknown {
  const { code, constraint } = error as { code?: string; constraint?: string };
  if (code !== '23505' || constraint !== 'vault_credentials_match_unique') return error;
  return new OmaError('conflict', `this vault already has an active credential for ${describeMatchKey(auth)} (archive or delete it first)`, {
    details: { error_code: 'credential_already_exists' },
  });
}

export async function findCredentialRow(db: Queryable, workspaceId: string, vaultId: string, id: string, lock = false): Promise<CredentialRow> {
  const { rows } = await db.query<CredentialRow>(
    `SELECT * FROM vault_credentials WHERE workspace_id = $1 AND vault_id = $2 AND id = $3${lock ? ' FOR UPDATE' : ''}`,
    [workspaceId, vaultId, id],
  );
  if (rows[0] === undefined) {
    await findVaultRow(db, workspaceId, vaultId); // an unknown vault is named as such
    throw notFound(id);
  }
  return rows[0];
}

export async function getCredential(db: Queryable, workspaceId: string, vaultId: string, id: string): Promise<BetaManagedAgentsCredential> {
  return renderCredential(await findCredentialRow(db, workspaceId, vaultId, id));
}

/**
 * A new credential, its secrets sealed. Refused: an archived vault (400 `vault_archived`), a vault
 * with `LIMITS.credentialsPerVault` active credentials (400), a second active credential for the
 * same mcp_server_url / secret_name (409). The vault row is locked, so concurrent creates count right.
 */
export async function createCredential(db: Db, secrets: SecretBox | undefined, workspaceId: string, vaultId: string, body: CredentialCreateBody): Promise<BetaManagedAgentsCredential> {
  const { auth, secrets: plain } = authFromCreate(body.auth);
  const metadata = createMetadata(body.metadata);
  const box = requireSecrets(secrets);
  try {
    return await db.transaction(async (tx) => {
      const vault = await findVaultRow(tx, workspaceId, vaultId, 'update');
      if (vault.archived_at !== null) {
        throw new OmaError('invalid_request', `vault ${vaultId} is archived: it takes no new credentials`, { details: { error_code: 'vault_archived' } });
      }
      const { rows: counted } = await tx.query<{ active: number }>('SELECT count(*)::int AS active FROM vault_credentials WHERE vault_id = $1 AND archived_at IS NULL', [vaultId]);
      if (counted[0]!.active >= LIMITS.credentialsPerVault) {
        throw new OmaError('invalid_request', `vault ${vaultId} already has ${LIMITS.credentialsPerVault} active credentials, the most a vault can hold`, {
          details: { error_code: 'too_many_credentials' },
        });
      }
      const now = new Date();
      const id = newId('vcrd', now.getTime());
      const { rows } = await tx.query<CredentialRow>(
        `INSERT INTO vault_credentials (id, vault_id, workspace_id, type, auth, secret, match_key, display_name, metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9::jsonb, $10, $10) RETURNING *`,
        [id, vaultId, workspaceId, auth.type, JSON.stringify(auth), sealCredentialSecrets(box, vaultId, id, plain), matchKey(auth), body.display_name ?? null, JSON.stringify(metadata), now.toISOString()],
      );
      return renderCredential(rows[0]!);
    });
  } catch (error) {
    throw duplicate(error, auth);
  }
}

/**
 * Spec §8.2 update: same auth type, immutable fields unchanged (see `authFromUpdate`), secrets
 * resealed only when one changes; `display_name` omitted keeps, null clears; metadata is a patch.
 * An archived credential is read-only (400 `credential_archived`).
 */
export async function updateCredential(
  db: Db,
  secrets: SecretBox | undefined,
  workspaceId: string,
  vaultId: string,
  id: string,
  body: CredentialUpdateBody,
): Promise<BetaManagedAgentsCredential> {
  return db.transaction(async (tx) => {
    const stored = await findCredentialRow(tx, workspaceId, vaultId, id, true);
    if (stored.archived_at !== null) {
      throw new OmaError('invalid_request', `credential ${id} is archived and cannot be updated`, { details: { error_code: 'credential_archived' } });
    }
    const merged = body.auth
      ? authFromUpdate(stored.auth, body.auth, () => openCredentialSecrets(requireSecrets(secrets), vaultId, id, stored.secret))
      : { auth: stored.auth, secrets: undefined };
    const next = {
      auth: merged.auth,
      secret: merged.secrets ? sealCredentialSecrets(requireSecrets(secrets), vaultId, id, merged.secrets) : stored.secret,
      display_name: body.display_name === undefined ? stored.display_name : body.display_name,
      metadata: patchMetadata(stored.metadata, body.metadata),
    };
    const unchanged =
      next.secret === stored.secret &&
      next.display_name === stored.display_name &&
      isDeepStrictEqual(next.auth, stored.auth) &&
      isDeepStrictEqual(next.metadata, stored.metadata);
    if (unchanged) return renderCredential(stored);
    const { rows } = await tx.query<CredentialRow>(
      `UPDATE vault_credentials SET auth = $2::jsonb, secret = $3, display_name = $4, metadata = $5::jsonb, updated_at = $6 WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(next.auth), next.secret, next.display_name, JSON.stringify(next.metadata), new Date().toISOString()],
    );
    return renderCredential(rows[0]!);
  });
}

/** Newest first; archived credentials only with `includeArchived`. An unknown vault is 404. */
export async function listCredentials(
  db: Queryable,
  workspaceId: string,
  vaultId: string,
  options: { page: PageRequest; includeArchived: boolean },
): Promise<{ data: BetaManagedAgentsCredential[]; next_page: string | null }> {
  await findVaultRow(db, workspaceId, vaultId);
  const params: unknown[] = [workspaceId, vaultId];
  const { where, orderBy, limit } = keyset('id', options.page, params);
  const archived = options.includeArchived ? '' : ' AND archived_at IS NULL';
  const { rows } = await db.query<CredentialRow>(
    `SELECT * FROM vault_credentials WHERE workspace_id = $1 AND vault_id = $2${archived} AND ${where} ORDER BY ${orderBy} ${limit}`,
    params,
  );
  const page = toPage(rows, options.page, (row) => row.id, renderCredential);
  return { data: page.data, next_page: page.next_page };
}

/** Archive: no longer used, read-only, its mcp_server_url / secret_name free again. Idempotent. */
export async function archiveCredential(db: Queryable, workspaceId: string, vaultId: string, id: string): Promise<BetaManagedAgentsCredential> {
  const now = new Date().toISOString();
  const { rows } = await db.query<CredentialRow>(
    'UPDATE vault_credentials SET archived_at = $4, updated_at = $4 WHERE workspace_id = $1 AND vault_id = $2 AND id = $3 AND archived_at IS NULL RETURNING *',
    [workspaceId, vaultId, id, now],
  );
  return rows[0] === undefined ? getCredential(db, workspaceId, vaultId, id) : renderCredential(rows[0]);
}

export async function deleteCredential(db: Queryable, workspaceId: string, vaultId: string, id: string): Promise<BetaManagedAgentsDeletedCredential> {
  const { rowCount } = await db.query('DELETE FROM vault_credentials WHERE workspace_id = $1 AND vault_id = $2 AND id = $3', [workspaceId, vaultId, id]);
  if (rowCount === 0) {
    await findVaultRow(db, workspaceId, vaultId);
    throw notFound(id);
  }
  return { type: 'vault_credential_deleted', id };
}
