import type { BetaManagedAgentsCredentialValidation } from '@anthropic-ai/sdk/resources/beta/vaults/credentials';
import type { Db } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { findCredentialRow } from './credentials.ts';
import type { SecretBox } from './crypto.ts';
import { probeMcpServer } from './http-probe.ts';
import { openCredentialSecrets, requireSecrets } from './secrets.ts';
import { attemptRefresh, type McpCredential } from './use.ts';

/**
 * `POST …/credentials/{id}/mcp_oauth_validate` (spec §8.2, VAULT-6): probe the MCP server with the
 * stored access token (`initialize`); on a 401 try one refresh-token exchange if configured.
 * `valid`: the probe passed. `invalid`: rejected (401/403) and not refreshed, or no access token.
 * `unknown`: could not tell (network error, another status, or refreshed but the new token untested).
 * Only scrubbed, truncated bodies are reported; never a token.
 */
export async function validateMcpOAuth(db: Db, secrets: SecretBox | undefined, workspaceId: string, vaultId: string, id: string): Promise<BetaManagedAgentsCredentialValidation> {
  const row = await findCredentialRow(db, workspaceId, vaultId, id);
  if (row.auth.type !== 'mcp_oauth') {
    throw new OmaError('invalid_request', `credential ${id} is a ${row.auth.type} credential; only mcp_oauth credentials can be validated`, {
      details: { error_code: 'credential_type_mismatch' },
    });
  }
  const box = requireSecrets(secrets);
  const stored = openCredentialSecrets(box, vaultId, id, row.secret);
  const hasRefreshToken = Boolean(row.auth.refresh && stored.refresh_token);
  const known = [stored.access_token, stored.refresh_token, stored.client_secret].filter((value): value is string => Boolean(value));
  const result = (status: BetaManagedAgentsCredentialValidation['status'], mcpProbe: BetaManagedAgentsCredentialValidation['mcp_probe'], refresh: BetaManagedAgentsCredentialValidation['refresh']) => ({
    type: 'vault_credential_validation' as const,
    credential_id: id,
    vault_id: vaultId,
    status,
    has_refresh_token: hasRefreshToken,
    validated_at: new Date().toISOString(),
    mcp_probe: mcpProbe,
    refresh,
  });

  if (!stored.access_token) return result('invalid', null, null);
  const probe = await probeMcpServer(row.auth.mcp_server_url, stored.access_token, known);
  if (probe.kind === 'network_error') return result('unknown', { method: 'initialize', http_response: null }, null);
  if (probe.ok) return result('valid', null, null);
  const mcpProbe = { method: 'initialize', http_response: probe.capture };
  if (probe.status === 403) return result('invalid', mcpProbe, null);
  if (probe.status !== 401) return result('unknown', mcpProbe, null);
  if (!hasRefreshToken) return result('invalid', mcpProbe, { status: 'no_refresh_token', http_response: null });

  const stale: McpCredential = { vaultId, credentialId: id, type: 'mcp_oauth', accessToken: stored.access_token, expiresAt: null, canRefresh: true };
  const attempt = await attemptRefresh(db, box, stale);
  const refresh = { status: attempt.status, http_response: attempt.httpResponse };
  switch (attempt.status) {
    case 'succeeded':
    case 'connect_error':
      return result('unknown', mcpProbe, refresh);
    case 'failed':
    case 'no_refresh_token':
      return result('invalid', mcpProbe, refresh);
  }
}
