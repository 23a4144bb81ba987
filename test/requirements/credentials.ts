/**
 * The security boundary for credentials (issue: vaults, git repositories and MCP servers without a
 * token in the sandbox; spec hands-and-credentials §8–9). Tests cite the id in their name: `[VAULT-1] …`.
 */
export const credentialsRequirements: Record<string, string> = {
  'VAULT-1': 'vaults: create, list (paging, include_archived), retrieve, update (metadata patch), archive and delete through the official SDK, with the SDK\'s shapes; bad input is a 400 that changes nothing',
  'VAULT-2': 'credentials of every kind the SDK has (mcp_oauth with refresh, static_bearer, environment_variable): create, list, retrieve, update (same type only; immutable fields refused), archive, delete; secret fields are write-only: never in any response, error or log line',
  'VAULT-3': 'secrets are encrypted at rest with AES-256-GCM under OMA_MASTER_KEY, with the vault and credential ids as associated data: the database holds no plaintext, and a ciphertext moved to another row does not decrypt',
  'VAULT-4': 'the master key: OMA_MASTER_KEY (32 bytes, base64 or hex) is required on PostgreSQL; embedded mode without it generates one into the data directory with mode 0600 and says so; a wrong key is refused with a clear error, never silently',
  'VAULT-5': "another workspace's vaults and credentials are 404; a session naming a vault that does not exist in its workspace is refused (404) and creates nothing; a repository resource's authorization_token is encrypted at rest and never returned",
  'VAULT-6': 'mcp_oauth_validate probes the MCP server with the stored token, tries one refresh on a 401, and reports valid / invalid / unknown with the refresh outcome, without any secret in the answer',
  'GIT-1': 'a github_repository resource (any git host over HTTP(S)) is cloned into the sandbox at its mount path and checkout when the sandbox is provisioned, through the host-side git proxy that adds the token; the sandbox never holds the token',
  'GIT-2': 'git pull and git push from inside the sandbox work through the git proxy (bind-mounted unix socket), which injects the current token; a rotated token (resource update) is used from the next operation on',
  'GIT-3': "the git proxy only serves the session's own repositories: any other repository, path or host is refused, and the refusal is logged",
  'GIT-4': 'every git operation through the proxy (fetch, push, refused) is recorded as an event of the session with repository, operation, outcome and duration',
  'GIT-5': 'a repository that cannot be cloned (bad token, missing repository, unreachable host) becomes a session.error of the spec\'s repository_* type and the session carries on without it',
  'MCP-1': "tools of the agent's MCP servers reach the model next to the toolset; the brain calls them from the host through the MCP SDK's Streamable HTTP client, recording agent.mcp_tool_use and agent.mcp_tool_result; permission policies (always_ask → user.tool_confirmation) apply",
  'MCP-2': "the MCP proxy sends the session's vault credential for the server's URL (static_bearer or mcp_oauth); an expired mcp_oauth access token, or a 401, triggers one refresh through the token endpoint (rotated tokens stored encrypted) and one retry",
  'MCP-3': 'an MCP server that is down, unreachable, refuses the credential or answers an error becomes a tool error or a session.error of the spec\'s mcp_* type, and the turn still ends idle, never hung or failed',
  'EGRESS-1': "sandboxes have no network interface; the environment's networking decides what its egress proxy (over a bind-mounted unix socket) lets through: limited → only allowed_hosts (plus package registries and MCP hosts when allowed), unrestricted → public hosts; private and loopback addresses are refused, and every refusal is logged in the session",
  'SEC-10': 'canaries in every credential kind (vault credentials, repository tokens): after git and MCP sessions ran, no canary appears in any event, in the sandbox\'s files, environment or process listing, in the git config, in tool output, or in any API response',
};
