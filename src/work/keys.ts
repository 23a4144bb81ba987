import { randomBytes } from 'node:crypto';
import { hashKey } from '../auth/keys.ts';
import type { Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';

/**
 * Environment keys (`sk-oma-env-…`, table `environment_keys`): the credential of a worker host, bound
 * to one self_hosted environment. There is no API endpoint for them in the SDK (the hosted service
 * mints them in its Console); oma's are minted by an admin route (`oma environments key create`).
 * Shown once; only the sha256 is stored; revocation takes effect at once in this process.
 */

export const ENVIRONMENT_KEY_PREFIX = 'sk-oma-env-';

export interface EnvironmentKeyInfo {
  id: string;
  type: 'environment_key';
  environment_id: string;
  workspace_id: string;
  /** The key's last four characters, to tell keys apart. */
  hint: string;
  created_at: string;
  revoked_at: string | null;
}

export interface CreatedEnvironmentKey extends EnvironmentKeyInfo {
  /** The secret itself. Never stored, never shown again. */
  key: string;
}

interface KeyRow {
  id: string;
  workspace_id: string;
  environment_id: string;
  key_hint: string;
  created_at: Date;
  revoked_at: Date | null;
}


function render(row: KeyRow): EnvironmentKeyInfo {
  return {
    id: row.id,
    type: 'environment_key',
    environment_id: row.environment_id,
    workspace_id: row.workspace_id,
    hint: row.key_hint,
    created_at: row.created_at.toISOString(),
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

/** The environment, in any workspace (admin routes are the operator's); 404 when missing, 400 when not self_hosted. */
async function selfHostedEnvironment(db: Queryable, environmentId: string): Promise<{ id: string; workspace_id: string }> {
  const { rows } = await db.query<{ id: string; workspace_id: string; type: string }>(
    `SELECT id, workspace_id, config->>'type' AS type FROM environments WHERE id = $1`,
    [environmentId],
  );
  const environment = rows[0];
  if (!environment) throw new OmaError('not_found', `environment ${JSON.stringify(environmentId)} was not found`, { details: { error_code: 'environment_not_found' } });
  if (environment.type !== 'self_hosted') {
    throw new OmaError('invalid_request', `environment ${environmentId} is not self_hosted (config.type is ${environment.type}): only self_hosted environments have workers and keys`);
  }
  return environment;
}

export async function createEnvironmentKey(db: Queryable, environmentId: string): Promise<CreatedEnvironmentKey> {
  const environment = await selfHostedEnvironment(db, environmentId);
  const key = ENVIRONMENT_KEY_PREFIX + randomBytes(32).toString('base64url');
  const now = new Date();
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO environment_keys (id, workspace_id, environment_id, key_hash, key_hint, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [newId('envkey', now.getTime()), environment.workspace_id, environment.id, hashKey(key), key.slice(-4), now.toISOString()],
  );
  return { ...render(rows[0]!), key };
}

/** The environment's keys, oldest first, revoked ones included (never the keys themselves). */
export async function listEnvironmentKeys(db: Queryable, environmentId: string): Promise<EnvironmentKeyInfo[]> {
  await selfHostedEnvironment(db, environmentId);
  const { rows } = await db.query<KeyRow>('SELECT * FROM environment_keys WHERE environment_id = $1 ORDER BY id', [environmentId]);
  return rows.map(render);
}

/** Revoke at once; revoking a revoked key is a no-op; a key of another environment is 404. */
export async function revokeEnvironmentKey(db: Queryable, environmentId: string, id: string): Promise<EnvironmentKeyInfo> {
  await db.query('UPDATE environment_keys SET revoked_at = $3 WHERE environment_id = $1 AND id = $2 AND revoked_at IS NULL', [
    environmentId,
    id,
    new Date().toISOString(),
  ]);
  const { rows } = await db.query<KeyRow>('SELECT * FROM environment_keys WHERE environment_id = $1 AND id = $2', [environmentId, id]);
  if (!rows[0]) throw new OmaError('not_found', `environment ${environmentId} has no key with id ${id}`);
  return render(rows[0]);
}

/** What a presented environment key stands for, or undefined (unknown, revoked, not one). */
export async function findEnvironmentKey(db: Queryable, key: string): Promise<{ id: string; workspaceId: string; environmentId: string } | undefined> {
  if (!key.startsWith(ENVIRONMENT_KEY_PREFIX)) return undefined;
  const { rows } = await db.query<KeyRow>('SELECT * FROM environment_keys WHERE key_hash = $1 AND revoked_at IS NULL', [hashKey(key)]);
  const row = rows[0];
  return row ? { id: row.id, workspaceId: row.workspace_id, environmentId: row.environment_id } : undefined;
}
