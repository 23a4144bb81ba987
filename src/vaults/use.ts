import type { Db, Queryable } from '../db/interface.ts';
import { normalizeMcpUrl } from './auth.ts';
import type { CredentialRow } from './credentials.ts';
import type { SecretBox } from './crypto.ts';
import { exchangeRefreshToken, type HttpCapture } from './http-probe.ts';
import { openCredentialSecrets, requireSecrets, sealCredentialSecrets, type CredentialSecrets } from './secrets.ts';

/**
 * How the brain uses vault credentials (spec §8.3, MCP-2) and how repository tokens are sealed.
 * Tokens leave this module only towards the MCP server / token endpoint they belong to.
 */

export interface McpCredential {
  vaultId: string;
  credentialId: string;
  type: 'mcp_oauth' | 'static_bearer';
  accessToken: string;
  expiresAt: Date | null;
  canRefresh: boolean;
}

/** A refresh that could not be done or was refused. The message never holds a secret. */
export class CredentialRefreshError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialRefreshError';
  }
}

function toMcpCredential(row: CredentialRow, secrets: CredentialSecrets): McpCredential {
  if (row.auth.type === 'environment_variable') throw new Error(`credential ${row.id} is not an MCP credential`);
  const oauth = row.auth.type === 'mcp_oauth' ? row.auth : undefined;
  return {
    vaultId: row.vault_id,
    credentialId: row.id,
    type: row.auth.type,
    accessToken: (oauth ? secrets.access_token : secrets.token) ?? '',
    expiresAt: oauth?.expires_at ? new Date(oauth.expires_at) : null,
    canRefresh: Boolean(oauth?.refresh && secrets.refresh_token),
  };
}

/** First active credential, in vault_ids order, whose mcp_server_url equals serverUrl (compare after URL normalisation: lower-case scheme/host, no trailing slash). */
export async function findMcpCredential(db: Queryable, secrets: SecretBox, workspaceId: string, vaultIds: string[], serverUrl: string): Promise<McpCredential | undefined> {
  if (vaultIds.length === 0) return undefined;
  let key: string;
  try {
    key = `mcp:${normalizeMcpUrl(serverUrl)}`;
  } catch {
    return undefined;
  }
  const { rows } = await db.query<CredentialRow>(
    `SELECT c.* FROM vault_credentials c JOIN vaults v ON v.id = c.vault_id
     WHERE c.workspace_id = $1 AND c.vault_id = ANY($2::text[]) AND c.match_key = $3 AND c.archived_at IS NULL AND v.archived_at IS NULL
       AND c.type IN ('mcp_oauth', 'static_bearer')`,
    [workspaceId, vaultIds, key],
  );
  const row = rows.sort((a, b) => vaultIds.indexOf(a.vault_id) - vaultIds.indexOf(b.vault_id))[0];
  if (!row) return undefined;
  return toMcpCredential(row, openCredentialSecrets(secrets, row.vault_id, row.id, row.secret));
}

/** The outcome of one refresh attempt, as `mcp_oauth_validate` reports it. */
export interface RefreshAttempt {
  status: 'succeeded' | 'failed' | 'connect_error' | 'no_refresh_token';
  httpResponse: HttpCapture | null;
  /** The credential after the attempt (set when succeeded). */
  credential?: McpCredential;
  /** Why it did not succeed (no secrets). */
  reason?: string;
}

/**
 * One refresh under the credential's row lock, so concurrent callers make one token request: the
 * ones that waited find a stored access token other than their stale one and take it.
 */
export async function attemptRefresh(db: Db, secrets: SecretBox, stale: McpCredential, options: { signal?: AbortSignal } = {}): Promise<RefreshAttempt> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<CredentialRow>('SELECT * FROM vault_credentials WHERE id = $1 AND vault_id = $2 FOR UPDATE', [stale.credentialId, stale.vaultId]);
    const row = rows[0];
    if (!row) return { status: 'failed', httpResponse: null, reason: `credential ${stale.credentialId} no longer exists` };
    if (row.auth.type !== 'mcp_oauth') return { status: 'no_refresh_token', httpResponse: null, reason: `credential ${row.id} is not an mcp_oauth credential` };
    const stored = openCredentialSecrets(secrets, row.vault_id, row.id, row.secret);
    if (stored.access_token !== stale.accessToken) return { status: 'succeeded', httpResponse: null, credential: toMcpCredential(row, stored) };
    const refresh = row.auth.refresh;
    if (!refresh || !stored.refresh_token) return { status: 'no_refresh_token', httpResponse: null, reason: `credential ${row.id} has no refresh token` };
    const exchange = await exchangeRefreshToken({
      tokenEndpoint: refresh.token_endpoint,
      clientId: refresh.client_id,
      endpointAuth: refresh.token_endpoint_auth.type,
      clientSecret: stored.client_secret,
      refreshToken: stored.refresh_token,
      resource: refresh.resource,
      scope: refresh.scope,
      signal: options.signal,
    });
    if (exchange.status === 'connect_error') return { status: 'connect_error', httpResponse: null, reason: exchange.reason };
    if (exchange.status === 'failed') return { status: 'failed', httpResponse: exchange.capture, reason: exchange.reason };
    const next: CredentialSecrets = { ...stored, access_token: exchange.accessToken, refresh_token: exchange.refreshToken ?? stored.refresh_token };
    const auth = { ...row.auth, expires_at: exchange.expiresIn ? new Date(Date.now() + exchange.expiresIn * 1000).toISOString() : null };
    const { rows: updated } = await tx.query<CredentialRow>('UPDATE vault_credentials SET auth = $2::jsonb, secret = $3, updated_at = $4 WHERE id = $1 RETURNING *', [
      row.id,
      JSON.stringify(auth),
      sealCredentialSecrets(secrets, row.vault_id, row.id, next),
      new Date().toISOString(),
    ]);
    return { status: 'succeeded', httpResponse: exchange.capture, credential: toMcpCredential(updated[0]!, next) };
  });
}

/** Refresh an mcp_oauth credential with its refresh token. In one transaction: lock the row (SELECT … FOR UPDATE); if the stored access token already differs from `stale.accessToken`, someone else refreshed: return the stored one. Else POST grant_type=refresh_token (client_id, resource, scope; client auth per token_endpoint_auth) to token_endpoint with a 10 s timeout, store the new access_token, expires_at (now + expires_in) and a rotated refresh_token if one came back, all sealed. Throws CredentialRefreshError (exported; message without secrets) when impossible or refused. */
export async function refreshMcpCredential(db: Db, secrets: SecretBox, stale: McpCredential, options?: { signal?: AbortSignal }): Promise<McpCredential> {
  // An archived credential (or one of an archived vault) is not used any more, so not refreshed either.
  const { rows } = await db.query('SELECT 1 FROM vault_credentials c JOIN vaults v ON v.id = c.vault_id WHERE c.id = $1 AND c.archived_at IS NULL AND v.archived_at IS NULL', [stale.credentialId]);
  if (rows.length === 0) throw new CredentialRefreshError(`credential ${stale.credentialId} was archived or deleted`);
  const attempt = await attemptRefresh(db, secrets, stale, options);
  if (attempt.credential) return attempt.credential;
  throw new CredentialRefreshError(`credential ${stale.credentialId} could not be refreshed: ${attempt.reason ?? attempt.status}`);
}

/** Seal a session repository's token (aad = the resource id); without a master key, the 400 that says how to set one. */
export function sealRepositoryToken(secrets: SecretBox | undefined, resourceId: string, token: string): string {
  return requireSecrets(secrets).seal(token, resourceId);
}

export function openRepositoryToken(secrets: SecretBox, resourceId: string, sealed: string): string {
  return secrets.open(sealed, resourceId);
}
