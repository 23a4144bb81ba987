import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { McpConnection, McpFailure, type McpTokenSource } from '../mcp/client.ts';
import type { NewEvent, StoredEvent } from '../session/interface.ts';
import type { SecretBox } from '../vaults/crypto.ts';
import { findMcpCredential, refreshMcpCredential, type McpCredential } from '../vaults/use.ts';
import { PRIVATE_KEY } from './history.ts';
import { truncate } from './tools.ts';
import type { PermissionPolicy, ToolEntry } from './toolset.ts';

/**
 * The MCP proxy of one session run: the agent's MCP servers, called from the host with the
 * session's vault credential for each server's URL, their tools offered to the model next to the
 * toolset. The model and the sandbox never see a token; a server that is down or refuses the
 * credential costs its tools for this run (a `session.error` says why), never the turn.
 */

export interface McpDeps {
  db: Db;
  secrets?: SecretBox;
  logger?: Logger;
}

interface McpServer {
  name: string;
  url: string;
}

interface StoredMcpToolset {
  type: 'mcp_toolset';
  mcp_server_name: string;
  default_config: { enabled: boolean; permission_policy: PermissionPolicy };
  configs: { name: string; enabled: boolean; permission_policy: PermissionPolicy }[];
}

export interface McpCallOutcome {
  content: Record<string, unknown>[];
  isError: boolean;
  /** A failure the client should see besides the tool error (the server is down, or refused the credential). */
  error?: NewEvent;
}

/** How long listing one server's tools may take before the turn goes on without them. */
const LIST_TIMEOUT_MS = 15_000;

export class McpTools {
  private readonly connections = new Map<string, McpConnection>();
  private loaded: Promise<NewEvent[]> | undefined;

  constructor(
    private readonly deps: McpDeps,
    private readonly session: { workspaceId: string; vaultIds: string[]; agent: { tools?: unknown; mcp_servers?: unknown } },
    private readonly maxOutputBytes = 100 * 1024,
  ) {}

  /** Whether the agent has any MCP toolset at all. */
  get configured(): boolean {
    return this.toolsets().length > 0;
  }

  /**
   * List every server's enabled tools into `catalog` (once per run). Names already taken (by the
   * toolset, a custom tool or another server) get the server's name in front. Resolves to the
   * `session.error` events of the servers that could not be listed (to the first caller only).
   */
  async load(catalog: Map<string, ToolEntry>, signal: AbortSignal): Promise<NewEvent[]> {
    if (this.loaded) {
      await this.loaded;
      return []; // reported by the first caller
    }
    this.loaded = this.list(catalog, signal);
    return this.loaded;
  }

  private async list(catalog: Map<string, ToolEntry>, signal: AbortSignal): Promise<NewEvent[]> {
    const servers = new Map(((this.session.agent.mcp_servers ?? []) as McpServer[]).map((server) => [server.name, server]));
    const listed = await Promise.all(
      this.toolsets().map(async (toolset) => {
        const server = servers.get(toolset.mcp_server_name);
        if (!server) return { toolset, error: undefined, tools: [] };
        try {
          const tools = await this.connection(server).listTools(AbortSignal.any([signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]));
          return { toolset, server, tools, error: undefined };
        } catch (error) {
          return { toolset, server, tools: [], error: failureEvent(server.name, error, 'retrying') };
        }
      }),
    );
    const errors: NewEvent[] = [];
    for (const { toolset, tools, error } of listed) {
      if (error) errors.push(error);
      for (const tool of tools) {
        const config = toolset.configs.find((entry) => entry.name === tool.name);
        if (!(config?.enabled ?? toolset.default_config.enabled)) continue;
        const modelName = catalog.has(tool.name) ? `${toolset.mcp_server_name}__${tool.name}`.slice(0, 128) : tool.name;
        const definition: Tool = { name: modelName, input_schema: { type: 'object', ...tool.inputSchema } as Tool['input_schema'] };
        if (tool.description) definition.description = tool.description;
        catalog.set(modelName, { kind: 'mcp', definition, policy: config?.permission_policy ?? toolset.default_config.permission_policy, mcp: { server: toolset.mcp_server_name, tool: tool.name } });
      }
    }
    return errors;
  }

  /** Call one MCP tool. Never throws: every failure is a tool error the model reads. */
  async call(entry: ToolEntry, input: Record<string, unknown>, signal: AbortSignal): Promise<McpCallOutcome> {
    const server = ((this.session.agent.mcp_servers ?? []) as McpServer[]).find((candidate) => candidate.name === entry.mcp?.server);
    if (!entry.mcp || !server) return { content: [{ type: 'text', text: 'This MCP server is no longer configured on the agent.' }], isError: true };
    try {
      const result = await this.connection(server).callTool(entry.mcp.tool, input, signal);
      // Like the sandbox's output, text beyond the limit keeps its end (each block on its own).
      const content = result.content.map((block) => (block.type === 'text' ? { ...block, text: truncate(block.text, this.maxOutputBytes) } : block));
      return { content: content as unknown as Record<string, unknown>[], isError: result.isError };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const outcome: McpCallOutcome = { content: [{ type: 'text', text: `The MCP server ${server.name} could not run ${entry.mcp.tool}: ${message}` }], isError: true };
      if (error instanceof McpFailure && error.kind !== 'protocol') outcome.error = failureEvent(server.name, error, 'retrying');
      return outcome;
    }
  }

  async close() {
    await Promise.all([...this.connections.values()].map((connection) => connection.close().catch(() => {})));
    this.connections.clear();
  }

  private toolsets(): StoredMcpToolset[] {
    return ((this.session.agent.tools ?? []) as { type: string }[]).filter((tool): tool is StoredMcpToolset => tool.type === 'mcp_toolset');
  }

  private connection(server: McpServer): McpConnection {
    let connection = this.connections.get(server.name);
    if (!connection) {
      connection = new McpConnection(server, this.tokens(server));
      this.connections.set(server.name, connection);
    }
    return connection;
  }

  /** The vault credential for the server's URL, refreshed when it expired or was refused. */
  private tokens(server: McpServer): McpTokenSource | undefined {
    const { db, secrets } = this.deps;
    if (!secrets || this.session.vaultIds.length === 0) return undefined;
    let credential: Promise<McpCredential | undefined> | undefined;
    const find = () => (credential ??= findMcpCredential(db, secrets, this.session.workspaceId, this.session.vaultIds, server.url));
    const refresh = async (stale: McpCredential) => {
      const fresh = refreshMcpCredential(db, secrets, stale);
      credential = fresh;
      fresh.catch(() => (credential = undefined)); // the next attempt reads the vault again
      return fresh;
    };
    return {
      async current() {
        const found = await find();
        if (!found) return undefined;
        // Expired (or about to): refresh first rather than be refused.
        if (found.type === 'mcp_oauth' && found.canRefresh && found.expiresAt && found.expiresAt.getTime() < Date.now() + 30_000) return (await refresh(found)).accessToken;
        return found.accessToken;
      },
      async refresh(rejected) {
        credential = undefined; // read the vault again: the credential may have been rotated, archived or deleted
        const found = await find();
        if (!found) throw new Error(`the server refused the request and no vault of the session has a credential for ${server.url}`);
        if (found.accessToken !== rejected) return found.accessToken; // refreshed meanwhile
        if (found.type !== 'mcp_oauth' || !found.canRefresh) throw new Error('the server refused the credential, and it has no refresh token');
        return (await refresh(found)).accessToken;
      },
    };
  }
}

function failureEvent(server: string, error: unknown, retry: 'retrying' | 'exhausted'): NewEvent {
  const authentication = error instanceof McpFailure && error.kind === 'authentication';
  const message = error instanceof Error ? error.message : String(error);
  return {
    type: 'session.error',
    payload: {
      error: {
        type: authentication ? 'mcp_authentication_failed_error' : 'mcp_connection_failed_error',
        mcp_server_name: server,
        message: `MCP server ${server}: ${message}`,
        retry_status: { type: retry },
      },
    },
  };
}

/**
 * The events answering MCP call `use` (an `agent.mcp_tool_use`): its `agent.mcp_tool_result`, and a
 * `session.error` when the server failed. A tool no longer offered (its server could not be listed,
 * or left the agent) is answered with a tool error.
 */
export async function answerMcpCall(mcp: McpTools | undefined, use: StoredEvent, catalog: ReadonlyMap<string, ToolEntry>, signal: AbortSignal): Promise<NewEvent[]> {
  const name = ((use.payload[PRIVATE_KEY] as { tool_name?: string } | undefined)?.tool_name ?? use.payload.name) as string;
  const entry = catalog.get(name);
  const started = performance.now();
  const outcome: McpCallOutcome =
    entry?.kind === 'mcp' && mcp
      ? await mcp.call(entry, use.payload.input as Record<string, unknown>, signal)
      : { content: [{ type: 'text', text: `The MCP tool ${name} is not available in this run (its server could not be listed).` }], isError: true };
  const trace = { sandbox: 'mcp', executeMs: Math.round((performance.now() - started) * 100) / 100 };
  const result: NewEvent = { type: 'agent.mcp_tool_result', payload: { mcp_tool_use_id: use.id, content: outcome.content, is_error: outcome.isError, [PRIVATE_KEY]: { trace } } };
  return outcome.error ? [result, outcome.error] : [result];
}
