import type { BetaManagedAgentsAgent } from '@anthropic-ai/sdk/resources/beta/agents/agents';
import type { AgentConfig } from './config.ts';
import { renderMultiagent } from './multiagent.ts';

/** One agent version as read from the database (`agents` joined with one `agent_versions` row). */
export interface AgentRow {
  id: string;
  version: number;
  config: AgentConfig;
  created_at: Date;
  /** When this version was written. */
  updated_at: Date;
  archived_at: Date | null;
}

/**
 * The wire object (`BetaManagedAgentsAgent`): every field present, nullable ones as null.
 * `created_at` and `archived_at` belong to the agent; `updated_at` is when this version was made.
 */
export function renderAgent(row: AgentRow): BetaManagedAgentsAgent {
  const config = row.config;
  return {
    type: 'agent',
    id: row.id,
    version: row.version,
    ...orderedConfig(config),
    multiagent: renderMultiagent(config.multiagent, row.id, row.version),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    archived_at: row.archived_at ? row.archived_at.toISOString() : null,
  };
}

/** The configuration with its keys in one fixed order, so two equal configurations serialise equally. */
export function orderedConfig(config: AgentConfig): AgentConfig {
  return {
    name: config.name,
    description: config.description,
    system: config.system,
    model: config.model,
    tools: config.tools,
    mcp_servers: config.mcp_servers,
    skills: config.skills,
    multiagent: config.multiagent,
    execution_identity: config.execution_identity,
    metadata: config.metadata,
  };
}
