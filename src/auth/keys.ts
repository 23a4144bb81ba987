import { createHash } from 'node:crypto';
import type { Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { newId, newSecret } from '../ids.ts';

/**
 * Workspaces and their API keys. A key is shown once, at creation; only its sha256 is stored (keys
 * are 256 random bits, so a slow password hash would add nothing but latency on every request).
 */

export const DEFAULT_WORKSPACE = 'default';
const KEY_PREFIX = 'sk-oma-';

export interface Workspace {
  id: string;
  name: string;
}

export interface ApiKeyInfo {
  id: string;
  workspace_id: string;
  workspace: string;
  name: string;
  /** The key's last four characters, to tell keys apart. */
  hint: string;
  admin: boolean;
  created_at: string;
  revoked_at: string | null;
}

export interface CreatedKey extends ApiKeyInfo {
  /** The secret itself. Never stored, never shown again. */
  key: string;
}

/**
 * What a credential other than an API key may do (see work/scope.ts): an environment key works for
 * its environment's work routes; a sessions token for its work item and that item's session.
 */
export type PrincipalScope =
  | { kind: 'environment'; environmentId: string }
  /** `stopped`: the item was stopped; its holder may still heartbeat and stop it (to learn so), nothing else. */
  | { kind: 'work'; environmentId: string; workId: string; sessionId: string; stopped?: boolean };

/** Who a request is. Without a `scope`: an API key, valid on every route of its workspace. */
export interface Principal {
  workspaceId: string;
  keyId: string;
  admin: boolean;
  scope?: PrincipalScope;
}

/** How every credential oma issues (API keys, environment keys, sessions tokens) is stored: its sha256, hex. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function checkWorkspaceName(name: string) {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) {
    throw new OmaError('invalid_request', `workspace name ${JSON.stringify(name)} must be 1-63 characters of a-z, 0-9, '-' or '_'`);
  }
}

export async function ensureWorkspace(db: Queryable, name: string): Promise<Workspace> {
  checkWorkspaceName(name);
  await db.query('INSERT INTO workspaces (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [newId('wrkspc'), name]);
  const { rows } = await db.query<Workspace>('SELECT id, name FROM workspaces WHERE name = $1', [name]);
  return rows[0]!;
}

const KEY_COLUMNS = `k.id, k.workspace_id, w.name AS workspace, k.name, k.key_hint AS hint, k.admin, k.created_at, k.revoked_at`;

function toInfo(row: Record<string, unknown>): ApiKeyInfo {
  return {
    id: row.id as string,
    workspace_id: row.workspace_id as string,
    workspace: row.workspace as string,
    name: row.name as string,
    hint: row.hint as string,
    admin: row.admin as boolean,
    created_at: (row.created_at as Date).toISOString(),
    revoked_at: row.revoked_at ? (row.revoked_at as Date).toISOString() : null,
  };
}

async function insertKey(db: Queryable, key: string, options: { workspace: string; name: string; admin: boolean }): Promise<ApiKeyInfo> {
  const workspace = await ensureWorkspace(db, options.workspace);
  const id = newId('apikey');
  await db.query('INSERT INTO api_keys (id, workspace_id, name, key_hash, key_hint, admin) VALUES ($1, $2, $3, $4, $5, $6)', [
    id,
    workspace.id,
    options.name,
    hashKey(key),
    key.slice(-4),
    options.admin,
  ]);
  return (await getKey(db, id))!;
}

/** A new random key in `workspace` (created if missing). */
export async function createKey(
  db: Queryable,
  options: { workspace?: string; name?: string; admin?: boolean } = {},
): Promise<CreatedKey> {
  const name = options.name ?? 'unnamed';
  if (name.length === 0 || name.length > 256) throw new OmaError('invalid_request', 'key name must be 1-256 characters');
  const key = newSecret(KEY_PREFIX);
  const info = await insertKey(db, key, { workspace: options.workspace ?? DEFAULT_WORKSPACE, name, admin: options.admin ?? false });
  return { ...info, key };
}

/**
 * Make sure `key` (from `OMA_API_KEY`) is an admin key of workspace `default`. A key that was
 * revoked stays revoked: the result says so, and the caller should warn.
 */
export async function seedKey(db: Queryable, key: string): Promise<ApiKeyInfo> {
  if (key.length < 16) throw new OmaError('invalid_request', 'OMA_API_KEY must be at least 16 characters');
  const existing = await db.query(`SELECT ${KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = $1`, [
    hashKey(key),
  ]);
  if (existing.rows[0]) return toInfo(existing.rows[0]);
  return insertKey(db, key, { workspace: DEFAULT_WORKSPACE, name: 'OMA_API_KEY', admin: true });
}

export async function getKey(db: Queryable, id: string): Promise<ApiKeyInfo | undefined> {
  const { rows } = await db.query(`SELECT ${KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.id = $1`, [id]);
  return rows[0] ? toInfo(rows[0]) : undefined;
}

/** Keys, oldest first; of one workspace when named (an unknown workspace has none). */
export async function listKeys(db: Queryable, options: { workspace?: string } = {}): Promise<ApiKeyInfo[]> {
  const params: unknown[] = [];
  let sql = `SELECT ${KEY_COLUMNS} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id`;
  if (options.workspace !== undefined) sql += ` WHERE w.name = $${params.push(options.workspace)}`;
  const { rows } = await db.query(`${sql} ORDER BY k.created_at, k.id`, params);
  return rows.map(toInfo);
}

/** Revoke a key at once. Revoking a revoked key is a no-op; an unknown id is `not_found`. */
export async function revokeKey(db: Queryable, id: string): Promise<ApiKeyInfo> {
  await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
  const info = await getKey(db, id);
  if (!info) throw new OmaError('not_found', `no API key with id ${id}`);
  return info;
}

/** The principal a presented key stands for, or undefined for an unknown or revoked key. */
export async function authenticate(db: Queryable, key: string): Promise<Principal | undefined> {
  const { rows } = await db.query<{ id: string; workspace_id: string; admin: boolean }>(
    'SELECT id, workspace_id, admin FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
    [hashKey(key)],
  );
  const row = rows[0];
  return row ? { workspaceId: row.workspace_id, keyId: row.id, admin: row.admin } : undefined;
}

export interface WorkspaceLimits {
  id: string;
  name: string;
  /** Requests per minute; null = the server default, 0 = unlimited. */
  create_per_minute: number | null;
  read_per_minute: number | null;
}

/** Set a workspace's request limits (created if missing). An omitted limit is kept; null resets it. */
export async function setWorkspaceLimits(
  db: Queryable,
  name: string,
  limits: { create_per_minute?: number | null; read_per_minute?: number | null },
): Promise<WorkspaceLimits> {
  const workspace = await ensureWorkspace(db, name);
  const { rows } = await db.query<WorkspaceLimits>(
    `UPDATE workspaces SET
       rate_limit_create_per_minute = CASE WHEN $2 THEN $3::integer ELSE rate_limit_create_per_minute END,
       rate_limit_read_per_minute = CASE WHEN $4 THEN $5::integer ELSE rate_limit_read_per_minute END
     WHERE id = $1
     RETURNING id, name, rate_limit_create_per_minute AS create_per_minute, rate_limit_read_per_minute AS read_per_minute`,
    [workspace.id, limits.create_per_minute !== undefined, limits.create_per_minute ?? null, limits.read_per_minute !== undefined, limits.read_per_minute ?? null],
  );
  return rows[0]!;
}
