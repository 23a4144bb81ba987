import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import { SESSION_LOG_DEFINITION, SESSION_LOG_TOOL } from './session-log-tool.ts';
import type { WebToolConfig } from './web.ts';

/**
 * The tools a session's agent offers the model, from its pinned snapshot: the agent toolset's
 * enabled tools under their own names with the input shapes of the SDK's toolset (the six sandbox
 * tools, then the server tools `web_fetch` and `web_search`), and custom tools exactly as the agent
 * defines them. MCP tools are listed from their servers when a run starts (brain/mcp.ts).
 */

export type PermissionPolicy = { type: 'always_allow' } | { type: 'always_ask' } | { type: 'auto' };

export interface ToolEntry {
  /** `toolset`: runs in the sandbox; `host`: a server tool the brain runs (web_fetch, web_search); `mcp`: an MCP server's, called by the brain; `custom`: the client's. */
  kind: 'toolset' | 'host' | 'mcp' | 'custom';
  definition: Tool;
  /** Toolset and host tools only: custom tools are the client's and never gated. */
  policy?: PermissionPolicy;
  /** The tool's own settings from the agent (web tools: domain lists, content limit). */
  config?: WebToolConfig;
  /** MCP tools: which server, and the tool's own name there (the model's name may have the server's in front). */
  mcp?: { server: string; tool: string };
}

/** Names the sandbox runs (spec hands §7.1). */
export const SANDBOX_TOOLS = ['bash', 'read', 'write', 'edit', 'glob', 'grep'] as const;

/** Server tools the brain runs on the host. */
export const HOST_TOOLS = ['web_fetch', 'web_search'] as const;

/** Tools whose re-run after a crash cannot change anything: they read only. */
export const IDEMPOTENT_TOOLS = new Set(['read', 'glob', 'grep', 'web_fetch', 'web_search', SESSION_LOG_TOOL]);

const HOST_DEFINITIONS: Record<(typeof HOST_TOOLS)[number], Tool> = {
  web_fetch: {
    name: 'web_fetch',
    description: 'Fetch a web page (http or https) and return its text. HTML is reduced to readable text.',
    input_schema: { type: 'object', properties: { url: { type: 'string', description: 'The URL to fetch' } }, required: ['url'] },
  },
  web_search: {
    name: 'web_search',
    description: 'Search the web and return the top results (title, URL, snippet).',
    input_schema: { type: 'object', properties: { query: { type: 'string', description: 'What to search for' } }, required: ['query'] },
  },
};

const TOOLSET_DEFINITIONS: Record<(typeof SANDBOX_TOOLS)[number], Tool> = {
  bash: {
    name: 'bash',
    description: 'Run a bash command in a persistent shell. State (cwd, env vars) persists across calls.',
    input_schema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: 'The command to run' },
        restart: { type: 'boolean', description: 'Restart the persistent shell before running' },
        timeout_ms: { type: 'integer', description: 'Per-call timeout in milliseconds' },
      },
    },
  },
  read: {
    name: 'read',
    description: 'Read a UTF-8 text file relative to the workdir.',
    input_schema: {
      type: 'object',
      properties: {
        file_path: { type: 'string' },
        view_range: { type: 'array', items: { type: 'integer' }, description: '[start_line, end_line] 1-indexed inclusive' },
      },
      required: ['file_path'],
    },
  },
  write: {
    name: 'write',
    description: 'Write a UTF-8 text file relative to the workdir, creating parent directories as needed.',
    input_schema: { type: 'object', properties: { file_path: { type: 'string' }, content: { type: 'string' } }, required: ['file_path', 'content'] },
  },
  edit: {
    name: 'edit',
    description: 'Replace old_string with new_string in a file. old_string must be unique unless replace_all.',
    input_schema: {
      type: 'object',
      properties: { file_path: { type: 'string' }, old_string: { type: 'string' }, new_string: { type: 'string' }, replace_all: { type: 'boolean' } },
      required: ['file_path', 'old_string', 'new_string'],
    },
  },
  glob: {
    name: 'glob',
    description: 'Match files under the workdir against a glob pattern. Results are mtime-sorted, newest first.',
    input_schema: {
      type: 'object',
      properties: { pattern: { type: 'string' }, path: { type: 'string', description: 'Directory to search in. Defaults to the workdir.' } },
      required: ['pattern'],
    },
  },
  grep: {
    name: 'grep',
    description: 'Search file contents for a regex. Uses ripgrep if available, otherwise a built-in walker.',
    input_schema: { type: 'object', properties: { pattern: { type: 'string' }, path: { type: 'string' } }, required: ['pattern'] },
  },
};

interface StoredToolset {
  type: 'agent_toolset_20260401';
  default_config: { enabled: boolean; permission_policy: PermissionPolicy };
  configs: ({ name: string; enabled: boolean; permission_policy: PermissionPolicy } & WebToolConfig)[];
}
interface StoredCustomTool {
  type: 'custom';
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
}

/**
 * Name → tool, in the order the agent lists them (toolset tools in the toolset's own order), then
 * `read_session_log` when the agent enables it (and has no tool of its own by that name).
 */
export function toolCatalog(agent: { tools?: unknown }, options: { sessionLogTool?: boolean } = {}): Map<string, ToolEntry> {
  const catalog = new Map<string, ToolEntry>();
  for (const tool of (agent.tools ?? []) as { type: string }[]) {
    if (tool.type === 'agent_toolset_20260401') {
      const toolset = tool as StoredToolset;
      for (const name of SANDBOX_TOOLS) {
        const config = toolset.configs.find((entry) => entry.name === name);
        const enabled = config?.enabled ?? toolset.default_config.enabled;
        if (enabled) catalog.set(name, { kind: 'toolset', definition: TOOLSET_DEFINITIONS[name], policy: config?.permission_policy ?? toolset.default_config.permission_policy });
      }
      for (const name of HOST_TOOLS) {
        const config = toolset.configs.find((entry) => entry.name === name);
        if (!(config?.enabled ?? toolset.default_config.enabled)) continue;
        const settings: WebToolConfig = { allowed_domains: config?.allowed_domains, blocked_domains: config?.blocked_domains, max_content_tokens: config?.max_content_tokens };
        catalog.set(name, { kind: 'host', definition: HOST_DEFINITIONS[name], policy: config?.permission_policy ?? toolset.default_config.permission_policy, config: settings });
      }
    } else if (tool.type === 'custom') {
      const custom = tool as StoredCustomTool;
      catalog.set(custom.name, { kind: 'custom', definition: { name: custom.name, description: custom.description, input_schema: schema(custom.input_schema) } });
    }
  }
  if (options.sessionLogTool && !catalog.has(SESSION_LOG_TOOL)) catalog.set(SESSION_LOG_TOOL, { kind: 'host', definition: SESSION_LOG_DEFINITION, policy: { type: 'always_allow' } });
  return catalog;
}

/** An input schema as defined, minus keys the agent API allows as `null` (= absent). */
function schema(inputSchema: Record<string, unknown>): Tool['input_schema'] {
  return Object.fromEntries(Object.entries(inputSchema).filter(([, value]) => value !== null)) as Tool['input_schema'];
}

/** What a policy decides for one call (spec §2.5), as the `agent.tool_use` event records it. */
export function evaluatePermission(policy: PermissionPolicy, readOnly: boolean) {
  switch (policy.type) {
    case 'always_allow':
      return { evaluated_permission: 'allow' as const, evaluation: { type: 'always_allow' } };
    case 'always_ask':
      return { evaluated_permission: 'ask' as const, evaluation: { type: 'always_ask' } };
    case 'auto': {
      // Reading cannot hurt; anything that writes or runs code is left to the user.
      const allow = readOnly;
      return allow
        ? { evaluated_permission: 'allow' as const, evaluation: { type: 'auto', evaluated_permission: { type: 'allow' } } }
        : { evaluated_permission: 'ask' as const, evaluation: { type: 'auto', evaluated_permission: { type: 'ask', reason_code: 'indeterminate' } } };
    }
  }
}
