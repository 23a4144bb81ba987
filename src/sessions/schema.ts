import { z } from 'zod';
import { CreateAgentBody } from '../agents/schema.ts';
import { MetadataParam } from '../api/metadata.ts';

/** Request bodies of the session routes (`SessionCreateParams`, `SessionUpdateParams`, spec §4, §6). */

const version = z.number().int().min(1);

export const AgentReference = z.union([
  z.string().min(1),
  z.strictObject({ type: z.literal('agent'), id: z.string().min(1), version: version.optional() }),
  z.strictObject({
    type: z.literal('agent_with_overrides'),
    id: z.string().min(1),
    version: version.optional(),
    model: CreateAgentBody.shape.model.optional(),
    system: CreateAgentBody.shape.system,
    tools: CreateAgentBody.shape.tools,
    mcp_servers: CreateAgentBody.shape.mcp_servers,
    skills: CreateAgentBody.shape.skills,
  }),
]);

const mountPath = z.string().min(1).max(1024).regex(/^\//, 'must be an absolute path').nullable().optional();

export const FileResourceParams = z.strictObject({ type: z.literal('file'), file_id: z.string().min(1), mount_path: mountPath });

export const ResourceParams = z.discriminatedUnion('type', [
  FileResourceParams,
  z.strictObject({
    type: z.literal('github_repository'),
    // A token goes in authorization_token, never in the URL (which the sandbox's git config and the API show).
    url: z
      .string()
      .url()
      .refine((url) => /^https?:\/\//.test(url), 'must be an http(s) URL')
      .refine((url) => !URL.canParse(url) || (new URL(url).username === '' && new URL(url).password === ''), 'must not contain user info (put the token in authorization_token)'),
    authorization_token: z.string().min(1).optional(),
    checkout: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('branch'), name: z.string().min(1) }),
        z.strictObject({ type: z.literal('commit'), sha: z.string().regex(/^[0-9a-f]{7,64}$/i, 'must be a commit sha') }),
      ])
      .nullable()
      .optional(),
    mount_path: mountPath,
  }),
  z.strictObject({
    type: z.literal('memory_store'),
    memory_store_id: z.string().min(1),
    access: z.enum(['read_write', 'read_only']).nullable().optional(),
    instructions: z.string().max(4096).nullable().optional(),
  }),
]);
export type ResourceParams = z.infer<typeof ResourceParams>;

export const Budget = z.strictObject({
  type: z.literal('limit'),
  max_list_cost: z.strictObject({
    amount: z.string().regex(/^\d+$/, 'must be an integer amount in minor units, as a string'),
    currency: z.literal('USD'),
  }),
});

export const CreateSession = z.strictObject({
  agent: AgentReference,
  environment_id: z.string().min(1),
  title: z.string().max(1000).nullable().optional(),
  metadata: MetadataParam,
  resources: z.array(ResourceParams).max(999).optional(),
  vault_ids: z.array(z.string().regex(/^vlt_\w+$/, 'must be a vault id (vlt_…)')).max(100).optional(),
  initial_events: z.array(z.unknown()).max(50).optional(),
  budget: Budget.optional(),
});

export const UpdateSession = z.strictObject({
  title: z.string().max(1000).nullable().optional(),
  metadata: MetadataParam,
  agent: z.strictObject({ tools: CreateAgentBody.shape.tools, mcp_servers: CreateAgentBody.shape.mcp_servers }).nullable().optional(),
  budget: Budget.nullable().optional(),
  vault_ids: z.unknown().optional(),
});
