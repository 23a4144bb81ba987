import type {
  BetaManagedAgentsAgentToolConfig,
  BetaManagedAgentsAgentToolset20260401,
  BetaManagedAgentsMCPServerURLDefinition,
  BetaManagedAgentsMCPToolConfig,
  BetaManagedAgentsMCPToolset,
  BetaManagedAgentsWebFetchURLSourceToolFilter,
  BetaManagedAgentsWebFetchURLSources,
} from '@anthropic-ai/sdk/resources/beta/agents/agents';
import { OmaError } from '../errors.ts';
import { AGENT_TOOLSET_DEFAULT_POLICY, LIMITS, MCP_TOOLSET_DEFAULT_POLICY, type AgentTool } from './config.ts';
import { AGENT_TOOL_NAMES, type AgentToolConfigParam, type AgentToolsetParam, type McpToolsetParam, type ToolParam, type UrlSourceToolFilterParam } from './schema-tools.ts';

/**
 * Turns a validated `tools` array into the resolved form the API returns (spec §2.5): every
 * `default_config` complete, every per-tool config complete (its null/omitted fields inherit the
 * toolset default), `url_sources` in object form. Rules that span entries are checked here, each
 * failure a 400 naming the entry (`tools.2.configs.1…`).
 *
 * ⚠ choices (spec §2.5): `configs` echoes only the supplied entries, in the order first given;
 * a tool configured twice is merged, the later entry's given fields winning.
 */

function invalid(message: string): never {
  throw new OmaError('invalid_request', message);
}

/** `later`'s defined fields over `earlier`. */
function mergeDefined<T extends object>(earlier: T, later: T): T {
  const merged: Record<string, unknown> = { ...(earlier as Record<string, unknown>) };
  for (const [key, value] of Object.entries(later)) if (value !== undefined) merged[key] = value;
  return merged as T;
}

function mergeByName<T extends { name: string }>(entries: T[]): T[] {
  const merged = new Map<string, T>();
  for (const entry of entries) {
    const earlier = merged.get(entry.name);
    merged.set(entry.name, earlier ? mergeDefined(earlier, entry) : entry);
  }
  return [...merged.values()];
}

function resolveToolFilter(
  filter: UrlSourceToolFilterParam | null | undefined,
  path: string,
  allowedNames: Set<string>,
  what: string,
): BetaManagedAgentsWebFetchURLSourceToolFilter | null {
  if (filter === undefined || filter === null) return null;
  if (filter.type === 'only' || filter.type === 'except') {
    for (const [index, tool] of filter.tools.entries()) {
      if (!allowedNames.has(tool.name)) invalid(`${path}.tools.${index}.name: ${JSON.stringify(tool.name)} is not ${what}`);
    }
    return { type: filter.type, tools: filter.tools.map((tool) => ({ type: 'tool_reference', name: tool.name })) };
  }
  return { type: filter.type };
}

type WebFetchParam = Extract<AgentToolConfigParam, { name: 'web_fetch' }>;

function resolveUrlSources(param: WebFetchParam['url_sources'], path: string, customToolNames: Set<string>): BetaManagedAgentsWebFetchURLSources | null {
  if (param === undefined || param === null) return null;
  const sources: BetaManagedAgentsWebFetchURLSources = {
    user_input: param.user_input ? { type: param.user_input.type } : null,
    client_tool_results: resolveToolFilter(param.client_tool_results, `${path}.client_tool_results`, customToolNames, 'a custom tool in this tools array'),
    server_tool_results: resolveToolFilter(param.server_tool_results, `${path}.server_tool_results`, new Set(['web_search', 'web_fetch']), 'web_search or web_fetch'),
  };
  if (sources.user_input?.type === 'none' && sources.client_tool_results?.type === 'none' && sources.server_tool_results?.type === 'none') {
    invalid(`${path}: user_input, client_tool_results and server_tool_results cannot all be "none" (web_fetch could fetch nothing)`);
  }
  return sources;
}

function resolveAgentToolConfig(
  entry: AgentToolConfigParam,
  defaults: BetaManagedAgentsAgentToolset20260401['default_config'],
  path: string,
  customToolNames: Set<string>,
): BetaManagedAgentsAgentToolConfig {
  const base = {
    enabled: entry.enabled ?? defaults.enabled,
    permission_policy: entry.permission_policy ?? defaults.permission_policy,
  };
  if (entry.name === 'web_fetch' || entry.name === 'web_search') {
    if (entry.allowed_domains && entry.blocked_domains) invalid(`${path}: allowed_domains and blocked_domains cannot both be given`);
  }
  switch (entry.name) {
    case 'web_fetch':
      return {
        name: 'web_fetch',
        type: 'web_fetch',
        ...base,
        url_sources: resolveUrlSources(entry.url_sources, `${path}.url_sources`, customToolNames),
        ...(entry.allowed_domains ? { allowed_domains: entry.allowed_domains } : {}),
        ...(entry.blocked_domains ? { blocked_domains: entry.blocked_domains } : {}),
        ...(typeof entry.max_content_tokens === 'number' ? { max_content_tokens: entry.max_content_tokens } : {}),
      };
    case 'web_search': {
      const location = entry.user_location;
      return {
        name: 'web_search',
        type: 'web_search',
        ...base,
        ...(entry.allowed_domains ? { allowed_domains: entry.allowed_domains } : {}),
        ...(entry.blocked_domains ? { blocked_domains: entry.blocked_domains } : {}),
        // Unset location fields are left out rather than echoed as null.
        ...(location ? { user_location: Object.fromEntries(Object.entries(location).filter(([, value]) => value !== null && value !== undefined)) as typeof location } : {}),
      };
    }
    default:
      return { name: entry.name, type: entry.name, ...base } as BetaManagedAgentsAgentToolConfig;
  }
}

function resolveAgentToolset(param: AgentToolsetParam, path: string, customToolNames: Set<string>): BetaManagedAgentsAgentToolset20260401 {
  const default_config = {
    enabled: param.default_config?.enabled ?? true,
    permission_policy: param.default_config?.permission_policy ?? AGENT_TOOLSET_DEFAULT_POLICY,
  };
  const configs = param.configs ?? [];
  return {
    type: 'agent_toolset_20260401',
    default_config,
    configs: mergeByName(configs).map((entry) =>
      resolveAgentToolConfig(entry, default_config, `${path}.configs.${configs.findIndex((given) => given.name === entry.name)}`, customToolNames),
    ),
  };
}

function resolveMcpToolset(param: McpToolsetParam): BetaManagedAgentsMCPToolset {
  const default_config = {
    enabled: param.default_config?.enabled ?? true,
    permission_policy: param.default_config?.permission_policy ?? MCP_TOOLSET_DEFAULT_POLICY,
  };
  return {
    type: 'mcp_toolset',
    mcp_server_name: param.mcp_server_name,
    default_config,
    configs: mergeByName(param.configs ?? []).map(
      (entry): BetaManagedAgentsMCPToolConfig => ({
        name: entry.name,
        enabled: entry.enabled ?? default_config.enabled,
        permission_policy: entry.permission_policy ?? default_config.permission_policy,
      }),
    ),
  };
}

/**
 * How many tools an entry contributes to the 256-tool limit: a custom tool 1, the agent toolset its
 * eight built-ins, an MCP toolset the tools it configures (at least 1; its server's full tool list
 * is not known until a session connects).
 */
function toolCount(tool: ToolParam): number {
  if (tool.type === 'custom') return 1;
  if (tool.type === 'agent_toolset_20260401') return AGENT_TOOL_NAMES.length;
  return Math.max(1, new Set((tool.configs ?? []).map((config) => config.name)).size);
}

/** The resolved `tools` array. `path` is the field name used in messages. */
export function resolveTools(params: ToolParam[], path = 'tools'): AgentTool[] {
  const count = params.reduce((sum, tool) => sum + toolCount(tool), 0);
  if (count > LIMITS.tools) invalid(`${path}: at most ${LIMITS.tools} tools across all toolsets (this request has ${count})`);

  const customToolNames = new Set<string>();
  const hasAgentToolset = params.some((tool) => tool.type === 'agent_toolset_20260401');
  const builtIns = new Set<string>(AGENT_TOOL_NAMES);
  const seenServers = new Set<string>();
  let agentToolsets = 0;
  for (const [index, tool] of params.entries()) {
    if (tool.type === 'custom') {
      if (customToolNames.has(tool.name)) invalid(`${path}.${index}.name: there is already a custom tool named ${JSON.stringify(tool.name)}`);
      if (hasAgentToolset && builtIns.has(tool.name)) invalid(`${path}.${index}.name: ${JSON.stringify(tool.name)} is the name of a built-in tool of agent_toolset_20260401`);
      customToolNames.add(tool.name);
    } else if (tool.type === 'agent_toolset_20260401') {
      if (++agentToolsets > 1) invalid(`${path}.${index}: only one agent_toolset_20260401 is allowed`);
    } else {
      if (seenServers.has(tool.mcp_server_name)) invalid(`${path}.${index}.mcp_server_name: there is already an mcp_toolset for ${JSON.stringify(tool.mcp_server_name)}`);
      seenServers.add(tool.mcp_server_name);
    }
  }

  return params.map((tool, index): AgentTool => {
    if (tool.type === 'agent_toolset_20260401') return resolveAgentToolset(tool, `${path}.${index}`, customToolNames);
    if (tool.type === 'mcp_toolset') return resolveMcpToolset(tool);
    return { type: 'custom', name: tool.name, description: tool.description, input_schema: tool.input_schema };
  });
}

/**
 * `mcp_servers` and the MCP toolsets of `tools` must match one to one (spec §2.6/§2.7): every toolset
 * names a listed server and every listed server is used by a toolset. Checked on the agent as it
 * will be stored, so an update that changes only one of the two is checked against the other.
 */
export function checkMcpReferences(tools: AgentTool[], servers: BetaManagedAgentsMCPServerURLDefinition[]): void {
  const serverNames = new Set(servers.map((server) => server.name));
  const referenced = new Set<string>();
  for (const [index, tool] of tools.entries()) {
    if (tool.type !== 'mcp_toolset') continue;
    if (!serverNames.has(tool.mcp_server_name)) {
      invalid(`tools.${index}.mcp_server_name: there is no MCP server named ${JSON.stringify(tool.mcp_server_name)} in mcp_servers`);
    }
    referenced.add(tool.mcp_server_name);
  }
  for (const [index, server] of servers.entries()) {
    if (!referenced.has(server.name)) {
      invalid(`mcp_servers.${index}: server ${JSON.stringify(server.name)} is not used by any mcp_toolset in tools (add {"type":"mcp_toolset","mcp_server_name":${JSON.stringify(server.name)}})`);
    }
  }
}
