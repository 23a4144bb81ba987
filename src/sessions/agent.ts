import type { z } from 'zod';
import type { BetaManagedAgentsMCPServerURLDefinition, BetaManagedAgentsModelConfig } from '@anthropic-ai/sdk/resources/beta/agents/agents';
import { resolveMcpServers, resolveModel, resolveSkills } from '../agents/resolve.ts';
import type { AgentTool } from '../agents/config.ts';
import { checkMcpReferences, resolveTools } from '../agents/resolve-tools.ts';
import type { McpServerParam } from '../agents/schema.ts';
import type { ToolParam } from '../agents/schema-tools.ts';
import { getAgent } from '../agents/store.ts';
import type { Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import type { AgentReference } from './schema.ts';

/** The fields of an agent a session pins (`BetaManagedAgentsSessionAgent`, spec §4.3). */
const SNAPSHOT_FIELDS = ['id', 'version', 'name', 'description', 'system', 'model', 'tools', 'mcp_servers', 'skills', 'execution_identity'] as const;

export type SessionAgent = Record<string, unknown> & { id: string; version: number };

/**
 * Resolve a session's `agent` parameter once, at creation: the latest or the named version of an
 * agent of this workspace that is not archived, with session-local overrides applied.
 */
export async function resolveSessionAgent(db: Queryable, workspaceId: string, reference: z.infer<typeof AgentReference>): Promise<SessionAgent> {
  const ref = typeof reference === 'string' ? { type: 'agent' as const, id: reference } : reference;
  const agent = (await getAgent(db, workspaceId, ref.id, ref.version)) as unknown as Record<string, unknown>;
  if (agent.archived_at) {
    throw new OmaError('invalid_request', `agent ${ref.id} is archived; new sessions cannot use it`, { details: { error_code: 'agent_archived' } });
  }
  const snapshot: SessionAgent = { type: 'agent', ...(Object.fromEntries(SNAPSHOT_FIELDS.map((field) => [field, agent[field]])) as SessionAgent), multiagent: null };
  if (agent.multiagent) snapshot.multiagent = agent.multiagent;
  if (ref.type === 'agent_with_overrides') {
    // Session-local full replacements (spec §4.2); an effort inside an overriding model is ignored.
    if (ref.model !== undefined) snapshot.model = resolveModel({ ...ref.model, effort: undefined }, snapshot.model as BetaManagedAgentsModelConfig);
    if (ref.system !== undefined) snapshot.system = ref.system || null;
    if (ref.skills !== undefined) snapshot.skills = resolveSkills(ref.skills ?? []);
    replaceTools(snapshot, { tools: ref.tools, mcp_servers: ref.mcp_servers }, 'agent');
  }
  return snapshot;
}

/**
 * Replace the snapshot's `tools` and/or `mcp_servers` (whole arrays; null or [] clears), checking that
 * every MCP toolset names a server and every server is used, as for agents.
 */
export function replaceTools(snapshot: SessionAgent, change: { tools?: ToolParam[] | null; mcp_servers?: McpServerParam[] | null }, path: string) {
  if (change.tools === undefined && change.mcp_servers === undefined) return;
  const tools = change.tools === undefined ? (snapshot.tools as AgentTool[]) : resolveTools(change.tools ?? [], `${path}.tools`);
  const servers = change.mcp_servers === undefined ? (snapshot.mcp_servers as BetaManagedAgentsMCPServerURLDefinition[]) : resolveMcpServers(change.mcp_servers ?? []);
  checkMcpReferences(tools, servers);
  snapshot.tools = tools;
  snapshot.mcp_servers = servers;
}
