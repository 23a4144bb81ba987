import { z } from 'zod';
import { MetadataParam } from '../api/metadata.ts';
import { shorthand, ToolParam } from './schema-tools.ts';

/**
 * Request bodies of `POST /v1/agents` (`AgentCreateParams`) and `POST /v1/agents/{id}`
 * (`AgentUpdateParams`), as zod schemas. Objects are strict: an unknown key is a 400 naming it,
 * so a typo is never silently dropped. Shorthand forms (a model id string, an effort level string,
 * an agent id string in a roster) are read as the object form they stand for, so every error
 * names the field it is about.
 */

export const EFFORT_LEVELS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

const Effort = shorthand('type', z.strictObject({ type: z.enum(EFFORT_LEVELS) }));

/** A model id, or `ModelConfigParams`. Any model id is accepted: the upstream decides what it serves. */
export const ModelParam = shorthand(
  'id',
  z.strictObject({
    id: z
      .string()
      .min(1)
      .max(256)
      .regex(/^\S+$/, 'must not contain spaces'),
    effort: Effort.nullable().optional(),
    inference_geo: z.string().min(1).max(64).nullable().optional(),
    speed: z.enum(['standard', 'fast']).nullable().optional(),
  }),
);
export type ModelParam = z.infer<typeof ModelParam>;

const McpServer = z.strictObject({
  type: z.literal('url'),
  name: z.string().min(1).max(255),
  url: z.string().refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL'),
});
export type McpServerParam = z.infer<typeof McpServer>;

const skillVersion = z.string().min(1).max(64).nullable().optional();
const Skill = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anthropic'), skill_id: z.string().min(1).max(64), version: skillVersion }),
  z.strictObject({
    type: z.literal('custom'),
    skill_id: z.string().regex(/^skill_\w{1,64}$/, 'must be a custom skill id (skill_…)'),
    version: skillVersion,
  }),
]);
export type SkillParam = z.infer<typeof Skill>;

export const ExecutionIdentityParam = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('service_account') }),
  z.strictObject({
    type: z.literal('aws_role'),
    role_arn: z
      .string()
      .max(2048)
      .regex(/^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN (arn:aws:iam::123456789012:role/name)'),
  }),
]);

// ---- multiagent (spec §2.8) ----

const AgentReference = z.strictObject({ type: z.literal('agent'), id: z.string().min(1), version: z.number().int().min(1).optional() });
const Self = z.strictObject({ type: z.literal('self') });
const Advisor = z.strictObject({ type: z.literal('advisor'), model: z.string().min(1).max(256) });
/** A bare string in a roster is an agent id. */
const agentIdShorthand = (value: unknown) => (typeof value === 'string' ? { type: 'agent', id: value } : value);
const RosterEntry = z.discriminatedUnion('type', [AgentReference, Self, Advisor]);
const rosterEntry = z.preprocess(agentIdShorthand, RosterEntry);
const predefinedEntry = z.preprocess(agentIdShorthand, z.discriminatedUnion('type', [AgentReference, Self]));
export type RosterEntryParam = z.infer<typeof RosterEntry>;
export type PredefinedEntryParam = z.infer<typeof predefinedEntry>;

const Toggle = z.discriminatedUnion('type', [z.strictObject({ type: z.literal('enabled') }), z.strictObject({ type: z.literal('disabled') })]);

const Delegation = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('enabled'),
    inline_agents: Toggle.nullable().optional(),
    predefined_agents: z.array(predefinedEntry).max(20, 'at most 20 agents').nullable().optional(),
  }),
  z.strictObject({ type: z.literal('disabled') }),
]);
export type DelegationParam = z.infer<typeof Delegation>;

export const MultiagentParam = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('coordinator'),
    agents: z.array(rosterEntry).min(1, 'must list at least one agent').max(20, 'at most 20 agents'),
  }),
  z.strictObject({
    type: z.literal('multiagent_20261001'),
    advisor: z
      .discriminatedUnion('type', [z.strictObject({ type: z.literal('enabled'), model: z.string().min(1).max(256) }), z.strictObject({ type: z.literal('disabled') })])
      .nullable()
      .optional(),
    subagents: Delegation.nullable().optional(),
    workflows: Delegation.nullable().optional(),
  }),
]);
export type MultiagentParam = z.infer<typeof MultiagentParam>;

// ---- bodies ----

const name = z.string().min(1).max(256);
const description = z.string().max(2048).nullable().optional();
const system = z.string().max(100_000).nullable().optional();

export const CreateAgentBody = z.strictObject({
  name,
  model: ModelParam,
  description,
  system,
  tools: z.array(ToolParam).nullable().optional(),
  mcp_servers: z.array(McpServer).nullable().optional(),
  skills: z.array(Skill).nullable().optional(),
  metadata: MetadataParam,
  multiagent: MultiagentParam.nullable().optional(),
  execution_identity: ExecutionIdentityParam.nullable().optional(),
});
export type CreateAgentBody = z.infer<typeof CreateAgentBody>;

export const UpdateAgentBody = z.strictObject({
  name: name.optional(),
  model: ModelParam.optional(),
  description,
  system,
  tools: z.array(ToolParam).nullable().optional(),
  mcp_servers: z.array(McpServer).nullable().optional(),
  skills: z.array(Skill).nullable().optional(),
  metadata: MetadataParam,
  multiagent: MultiagentParam.nullable().optional(),
  execution_identity: ExecutionIdentityParam.nullable().optional(),
  /** Optimistic concurrency: the version the caller last saw. */
  version: z.number().int().min(1).optional(),
});
export type UpdateAgentBody = z.infer<typeof UpdateAgentBody>;
