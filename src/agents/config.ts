import type {
  BetaManagedAgentsAdvisor,
  BetaManagedAgentsAgentReference,
  BetaManagedAgentsAgentToolset20260401,
  BetaManagedAgentsAnthropicSkill,
  BetaManagedAgentsCustomSkill,
  BetaManagedAgentsCustomTool,
  BetaManagedAgentsExecutionIdentity,
  BetaManagedAgentsMCPServerURLDefinition,
  BetaManagedAgentsMCPToolset,
  BetaManagedAgentsModelConfig,
  BetaManagedAgentsMultiagentAdvisor,
  BetaManagedAgentsMultiagentInlineAgents,
} from '@anthropic-ai/sdk/resources/beta/agents/agents';

/**
 * What one immutable agent version stores: every field of `BetaManagedAgentsAgent` that a version
 * fixes, already in the resolved form responses use (defaults filled in, shorthands expanded). Only
 * `multiagent` differs from the wire: a reference to the agent itself is kept as `{type:"self"}`
 * and rendered as a reference to the version being read, so carrying a configuration forward to a
 * new version keeps pointing at the agent's own newest version, and an unchanged configuration
 * compares equal across versions (the no-op check).
 */
export interface AgentConfig {
  name: string;
  description: string | null;
  system: string | null;
  model: BetaManagedAgentsModelConfig;
  tools: AgentTool[];
  mcp_servers: BetaManagedAgentsMCPServerURLDefinition[];
  skills: Array<BetaManagedAgentsAnthropicSkill | BetaManagedAgentsCustomSkill>;
  multiagent: StoredMultiagent | null;
  execution_identity: BetaManagedAgentsExecutionIdentity;
  metadata: Record<string, string>;
}

export type AgentTool = BetaManagedAgentsAgentToolset20260401 | BetaManagedAgentsMCPToolset | BetaManagedAgentsCustomTool;

/** An agent reference in a stored roster; `self` is the agent that owns the configuration. */
export type StoredReference = BetaManagedAgentsAgentReference | { type: 'self' };

export type StoredDelegation =
  | { type: 'enabled'; inline_agents: BetaManagedAgentsMultiagentInlineAgents; predefined_agents: StoredReference[] }
  | { type: 'disabled' };

export type StoredMultiagent =
  | { type: 'coordinator'; agents: Array<StoredReference | BetaManagedAgentsAdvisor> }
  | { type: 'multiagent_20261001'; advisor: BetaManagedAgentsMultiagentAdvisor; subagents: StoredDelegation; workflows: StoredDelegation };

/**
 * Defaults. Effort: spec §2.4 ⚠ (per-model defaults are not published); oma uses `high` for every
 * model. Permission policies: spec §2.5 (docs): agent toolset `always_allow`, MCP `always_ask`.
 */
export const DEFAULT_EFFORT = { type: 'high' } as const;
export const DEFAULT_SPEED = 'standard' as const;
export const AGENT_TOOLSET_DEFAULT_POLICY = { type: 'always_allow' } as const;
export const MCP_TOOLSET_DEFAULT_POLICY = { type: 'always_ask' } as const;
/** Skill `version` when the request leaves it out (spec §2.6 ⚠): the literal string `latest`. */
export const DEFAULT_SKILL_VERSION = 'latest';

export const LIMITS = {
  /** Tools across all toolsets (SDK doc). */
  tools: 256,
  mcpServers: 20,
  /** Docs disagree (64 vs 20) ⚠; oma takes the larger. */
  skills: 64,
} as const;
