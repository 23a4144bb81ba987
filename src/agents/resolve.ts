import type {
  BetaManagedAgentsExecutionIdentity,
  BetaManagedAgentsMCPServerURLDefinition,
  BetaManagedAgentsModelConfig,
} from '@anthropic-ai/sdk/resources/beta/agents/agents';
import type { z } from 'zod';
import { createMetadata, patchMetadata } from '../api/metadata.ts';
import { checkContextMetadata } from '../context/settings.ts';
import { OmaError } from '../errors.ts';
import { DEFAULT_EFFORT, DEFAULT_SKILL_VERSION, DEFAULT_SPEED, LIMITS, type AgentConfig } from './config.ts';
import { checkMcpReferences, resolveTools } from './resolve-tools.ts';
import type { CreateAgentBody, ExecutionIdentityParam, McpServerParam, ModelParam, SkillParam, UpdateAgentBody } from './schema.ts';

/**
 * Request fields → the stored, resolved agent configuration (everything but `multiagent`, which
 * needs the database: see `multiagent.ts`). Pure functions; each failure is a 400 naming the field.
 */

function invalid(message: string): never {
  throw new OmaError('invalid_request', message);
}

/**
 * The model in object form (spec §2.4). On update the object replaces the stored one, except that
 * an omitted `effort` keeps the stored effort (SDK doc); `null` effort means the default.
 */
export function resolveModel(param: ModelParam, stored?: BetaManagedAgentsModelConfig): BetaManagedAgentsModelConfig {
  const effort = param.effort === undefined ? (stored?.effort ?? DEFAULT_EFFORT) : (param.effort ?? DEFAULT_EFFORT);
  return {
    id: param.id,
    effort: { type: effort.type },
    ...(param.inference_geo ? { inference_geo: param.inference_geo } : {}),
    speed: param.speed ?? DEFAULT_SPEED,
  };
}

export function resolveMcpServers(params: McpServerParam[]): BetaManagedAgentsMCPServerURLDefinition[] {
  if (params.length > LIMITS.mcpServers) invalid(`mcp_servers: at most ${LIMITS.mcpServers} servers`);
  const names = new Set<string>();
  for (const [index, server] of params.entries()) {
    if (names.has(server.name)) invalid(`mcp_servers.${index}.name: there is already a server named ${JSON.stringify(server.name)}`);
    names.add(server.name);
  }
  return params.map((server) => ({ type: 'url', name: server.name, url: server.url }));
}

/** Skills with `version` always a string; omitted = `latest` (spec §2.6 ⚠). */
export function resolveSkills(params: SkillParam[]): AgentConfig['skills'] {
  if (params.length > LIMITS.skills) invalid(`skills: at most ${LIMITS.skills} skills`);
  const seen = new Set<string>();
  for (const [index, skill] of params.entries()) {
    const key = `${skill.type}:${skill.skill_id}`;
    if (seen.has(key)) invalid(`skills.${index}.skill_id: ${skill.type} skill ${JSON.stringify(skill.skill_id)} is listed more than once`);
    seen.add(key);
  }
  return params.map((skill) => ({ type: skill.type, skill_id: skill.skill_id, version: skill.version ?? DEFAULT_SKILL_VERSION }));
}

export function resolveExecutionIdentity(param: z.infer<typeof ExecutionIdentityParam> | null | undefined): BetaManagedAgentsExecutionIdentity {
  if (!param || param.type === 'service_account') return { type: 'service_account' };
  return { type: 'aws_role', role_arn: param.role_arn };
}

/** `""` and `null` both mean "none" for description and system. */
const text = (value: string | null | undefined): string | null => (value ? value : null);

/** The configuration of a new agent, without `multiagent`. */
export function resolveCreate(body: CreateAgentBody): Omit<AgentConfig, 'multiagent'> {
  const config = {
    name: body.name,
    description: text(body.description),
    system: text(body.system),
    model: resolveModel(body.model),
    tools: resolveTools(body.tools ?? []),
    mcp_servers: resolveMcpServers(body.mcp_servers ?? []),
    skills: resolveSkills(body.skills ?? []),
    execution_identity: resolveExecutionIdentity(body.execution_identity),
    metadata: createMetadata(body.metadata),
  };
  checkMcpReferences(config.tools, config.mcp_servers);
  checkContextMetadata(config.metadata);
  return config;
}

/**
 * `current` with an update applied (spec §2.3), without `multiagent`: omitted fields are kept;
 * tools, mcp_servers, skills and execution_identity are replaced whole (null or `[]` clears);
 * metadata is a patch (null keeps it, ⚠).
 */
export function applyUpdate(current: AgentConfig, body: UpdateAgentBody): Omit<AgentConfig, 'multiagent'> {
  const config = {
    name: body.name ?? current.name,
    description: body.description === undefined ? current.description : text(body.description),
    system: body.system === undefined ? current.system : text(body.system),
    model: body.model === undefined ? current.model : resolveModel(body.model, current.model),
    tools: body.tools === undefined ? current.tools : resolveTools(body.tools ?? []),
    mcp_servers: body.mcp_servers === undefined ? current.mcp_servers : resolveMcpServers(body.mcp_servers ?? []),
    skills: body.skills === undefined ? current.skills : resolveSkills(body.skills ?? []),
    execution_identity: body.execution_identity === undefined ? current.execution_identity : resolveExecutionIdentity(body.execution_identity),
    metadata: patchMetadata(current.metadata, body.metadata),
  };
  checkMcpReferences(config.tools, config.mcp_servers);
  checkContextMetadata(config.metadata);
  return config;
}
