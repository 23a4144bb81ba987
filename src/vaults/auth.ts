import type {
  BetaManagedAgentsCredential,
  BetaManagedAgentsEnvironmentVariableAuthResponse,
  BetaManagedAgentsMCPOAuthAuthResponse,
} from '@anthropic-ai/sdk/resources/beta/vaults/credentials';
import { isDeepStrictEqual } from 'node:util';
import { OmaError } from '../errors.ts';
import type { AuthCreate, AuthUpdate } from './params.ts';
import type { CredentialSecrets } from './secrets.ts';

/**
 * A credential's `auth` split in two: the public part (stored as jsonb, and exactly the response's
 * `auth`) and the write-only secrets (sealed, never rendered). Update rules (spec §8.2): the type
 * never changes; `mcp_server_url`, `client_id`, `token_endpoint` and `secret_name` are immutable;
 * omitted or null fields keep their stored value.
 */

export type CredentialAuth = BetaManagedAgentsCredential['auth'];
type McpOAuthAuth = BetaManagedAgentsMCPOAuthAuthResponse;
type EnvironmentVariableAuth = BetaManagedAgentsEnvironmentVariableAuthResponse;

/** How MCP server URLs are compared: lower-case scheme and host (URL does that), no fragment, no trailing slash. */
export function normalizeMcpUrl(value: string): string {
  const url = new URL(value);
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/** What must be unique among a vault's active credentials (409 otherwise). */
export function matchKey(auth: CredentialAuth): string {
  return auth.type === 'environment_variable' ? `env:${auth.secret_name}` : `mcp:${normalizeMcpUrl(auth.mcp_server_url)}`;
}

export function describeMatchKey(auth: CredentialAuth): string {
  return auth.type === 'environment_variable' ? `secret_name ${JSON.stringify(auth.secret_name)}` : `mcp_server_url ${JSON.stringify(auth.mcp_server_url)}`;
}

function invalid(message: string, errorCode = 'invalid_credential'): OmaError {
  return new OmaError('invalid_request', message, { details: { error_code: errorCode } });
}

export function authFromCreate(params: AuthCreate): { auth: CredentialAuth; secrets: CredentialSecrets } {
  switch (params.type) {
    case 'mcp_oauth': {
      const refresh = params.refresh ?? null;
      const secrets: CredentialSecrets = { access_token: params.access_token };
      if (refresh) {
        secrets.refresh_token = refresh.refresh_token;
        if (refresh.token_endpoint_auth.type !== 'none') secrets.client_secret = refresh.token_endpoint_auth.client_secret;
      }
      const auth: McpOAuthAuth = {
        type: 'mcp_oauth',
        mcp_server_url: params.mcp_server_url,
        expires_at: params.expires_at ? new Date(params.expires_at).toISOString() : null,
        refresh: refresh && {
          client_id: refresh.client_id,
          token_endpoint: refresh.token_endpoint,
          token_endpoint_auth: { type: refresh.token_endpoint_auth.type },
          resource: refresh.resource ?? null,
          scope: refresh.scope || null,
        },
      };
      return { auth, secrets };
    }
    case 'static_bearer':
      return { auth: { type: 'static_bearer', mcp_server_url: params.mcp_server_url }, secrets: { token: params.token } };
    case 'environment_variable': {
      // Omitted → both true; given → omitted fields false.
      const location = params.injection_location ? { header: params.injection_location.header ?? false, body: params.injection_location.body ?? false } : { header: true, body: true };
      if (!location.header && !location.body) throw invalid('auth.injection_location: at least one of header and body must be true');
      const auth: EnvironmentVariableAuth = { type: 'environment_variable', secret_name: params.secret_name, networking: params.networking, injection_location: location };
      return { auth, secrets: { secret_value: params.secret_value } };
    }
  }
}

function refuseChange(field: string, given: unknown, stored: unknown) {
  if (given !== undefined && !isDeepStrictEqual(given, stored)) {
    throw invalid(`auth.${field} cannot be changed after a credential is created (create a new credential instead)`, 'immutable_field');
  }
}

/**
 * The merged auth and, when any secret changes, the merged secrets (`openSecrets` is called only
 * then, so an update without secrets needs no master key).
 */
export function authFromUpdate(
  stored: CredentialAuth,
  params: AuthUpdate,
  openSecrets: () => CredentialSecrets,
): { auth: CredentialAuth; secrets: CredentialSecrets | undefined } {
  if (params.type !== stored.type) {
    throw invalid(`auth.type cannot change from ${JSON.stringify(stored.type)} to ${JSON.stringify(params.type)}`, 'credential_type_change');
  }
  const changes: CredentialSecrets = {};
  let auth: CredentialAuth;
  if (params.type === 'mcp_oauth' && stored.type === 'mcp_oauth') {
    refuseChange('mcp_server_url', params.mcp_server_url, stored.mcp_server_url);
    const next: McpOAuthAuth = { ...stored, expires_at: stored.expires_at ?? null, refresh: stored.refresh ?? null };
    if (params.access_token) changes.access_token = params.access_token;
    if (params.expires_at) next.expires_at = new Date(params.expires_at).toISOString();
    const refresh = params.refresh;
    if (refresh) {
      if (!next.refresh) throw invalid('auth.refresh: this credential has no refresh configuration to update (client_id and token_endpoint are set only at create)');
      refuseChange('refresh.client_id', refresh.client_id, next.refresh.client_id);
      refuseChange('refresh.token_endpoint', refresh.token_endpoint, next.refresh.token_endpoint);
      next.refresh = { ...next.refresh };
      if (refresh.refresh_token) changes.refresh_token = refresh.refresh_token;
      if (refresh.scope !== undefined && refresh.scope !== null) next.refresh.scope = refresh.scope === '' ? null : refresh.scope;
      const endpointAuth = refresh.token_endpoint_auth;
      if (endpointAuth) {
        if (endpointAuth.client_secret) changes.client_secret = endpointAuth.client_secret;
        else if (next.refresh.token_endpoint_auth.type === 'none') {
          throw invalid(`auth.refresh.token_endpoint_auth.client_secret is required to switch from "none" to ${JSON.stringify(endpointAuth.type)}`);
        }
        next.refresh.token_endpoint_auth = { type: endpointAuth.type };
      }
    }
    auth = next;
  } else if (params.type === 'static_bearer' && stored.type === 'static_bearer') {
    refuseChange('mcp_server_url', params.mcp_server_url, stored.mcp_server_url);
    if (params.token) changes.token = params.token;
    auth = stored;
  } else if (params.type === 'environment_variable' && stored.type === 'environment_variable') {
    refuseChange('secret_name', params.secret_name, stored.secret_name);
    if (params.secret_value) changes.secret_value = params.secret_value;
    const location = {
      header: params.injection_location?.header ?? stored.injection_location.header,
      body: params.injection_location?.body ?? stored.injection_location.body,
    };
    if (!location.header && !location.body) throw invalid('auth.injection_location: at least one of header and body must stay true');
    auth = { ...stored, networking: params.networking ?? stored.networking, injection_location: location };
  } else {
    throw new Error('unreachable: type checked above');
  }
  if (Object.keys(changes).length === 0) return { auth, secrets: undefined };
  return { auth, secrets: { ...openSecrets(), ...changes } };
}
