import { z } from 'zod';

/**
 * Request schemas for an agent's `tools` array (spec §2.5, SDK `…Params` types): the agent toolset
 * `agent_toolset_20260401`, `mcp_toolset` and `custom` tools. These check the shape of each entry
 * and name the field that is wrong; rules that span entries (server references, duplicate names,
 * the tool count) are checked in `resolve-tools.ts`.
 */

/** Shorthand strings (`"all"`, `"high"`, an agent id…) are read as the object they stand for. */
export function shorthand<T extends z.ZodType>(key: string, schema: T) {
  return z.preprocess((value) => (typeof value === 'string' ? { [key]: value } : value), schema);
}

export const PermissionPolicy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('always_allow') }),
  z.strictObject({ type: z.literal('always_ask') }),
  z.strictObject({ type: z.literal('auto') }),
]);

const DefaultConfig = z.strictObject({
  enabled: z.boolean().nullable().optional(),
  permission_policy: PermissionPolicy.nullable().optional(),
});

/** The eight built-in tools of `agent_toolset_20260401`. */
export const AGENT_TOOL_NAMES = ['bash', 'read', 'write', 'edit', 'glob', 'grep', 'web_fetch', 'web_search'] as const;
export type AgentToolName = (typeof AGENT_TOOL_NAMES)[number];

function toolConfigFields<Name extends AgentToolName>(name: Name) {
  return {
    name: z.literal(name),
    type: z.literal(name, { error: `must be "${name}" (the same as name) when given` }).optional(),
    enabled: z.boolean().nullable().optional(),
    permission_policy: PermissionPolicy.nullable().optional(),
  };
}

const HOSTNAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** 1-64 plain hostnames; web_search also accepts a path suffix (`example.com/docs`). */
function domainList(options: { pathSuffix: boolean }) {
  return z
    .array(
      z.string().refine(
        (domain) => {
          const slash = domain.indexOf('/');
          if (slash === -1) return HOSTNAME.test(domain);
          return options.pathSuffix && HOSTNAME.test(domain.slice(0, slash)) && !/\s/.test(domain);
        },
        { error: options.pathSuffix ? 'must be a plain hostname, optionally with a path (no scheme or port)' : 'must be a plain hostname (no scheme, port or path)' },
      ),
    )
    .min(1, 'must not be empty (omit the field instead)')
    .max(64, 'at most 64 domains');
}

const ToolReference = z.strictObject({ type: z.literal('tool_reference'), name: z.string().min(1) });
const toolList = z
  .array(ToolReference)
  .min(1, 'must name at least one tool')
  .max(128, 'at most 128 tools')
  .refine((tools) => new Set(tools.map((tool) => tool.name)).size === tools.length, { error: 'tool names must be different' });

const UrlSourceUserInput = shorthand(
  'type',
  z.discriminatedUnion('type', [z.strictObject({ type: z.literal('all') }), z.strictObject({ type: z.literal('none') })]),
);
const UrlSourceToolFilter = shorthand(
  'type',
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('all') }),
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('only'), tools: toolList }),
    z.strictObject({ type: z.literal('except'), tools: toolList }),
  ]),
);
export type UrlSourceToolFilterParam = z.infer<typeof UrlSourceToolFilter>;

const UrlSources = z.strictObject({
  user_input: UrlSourceUserInput.nullable().optional(),
  client_tool_results: UrlSourceToolFilter.nullable().optional(),
  server_tool_results: UrlSourceToolFilter.nullable().optional(),
});

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const UserLocation = z.strictObject({
  type: z.literal('approximate'),
  city: z.string().min(1).max(255).nullable().optional(),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter uppercase ISO 3166-1 code').nullable().optional(),
  region: z.string().min(1).max(255).nullable().optional(),
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "America/Los_Angeles"').nullable().optional(),
});

const AgentToolConfig = z.discriminatedUnion('name', [
  z.strictObject(toolConfigFields('bash')),
  z.strictObject(toolConfigFields('read')),
  z.strictObject(toolConfigFields('write')),
  z.strictObject(toolConfigFields('edit')),
  z.strictObject(toolConfigFields('glob')),
  z.strictObject(toolConfigFields('grep')),
  z.strictObject({
    ...toolConfigFields('web_fetch'),
    allowed_domains: domainList({ pathSuffix: false }).optional(),
    blocked_domains: domainList({ pathSuffix: false }).optional(),
    max_content_tokens: z.number().int().min(1).nullable().optional(),
    url_sources: UrlSources.nullable().optional(),
  }),
  z.strictObject({
    ...toolConfigFields('web_search'),
    allowed_domains: domainList({ pathSuffix: true }).optional(),
    blocked_domains: domainList({ pathSuffix: true }).optional(),
    user_location: UserLocation.nullable().optional(),
  }),
]);
export type AgentToolConfigParam = z.infer<typeof AgentToolConfig>;

const AgentToolset = z.strictObject({
  type: z.literal('agent_toolset_20260401'),
  default_config: DefaultConfig.nullable().optional(),
  configs: z.array(AgentToolConfig).nullable().optional(),
});

const McpToolset = z.strictObject({
  type: z.literal('mcp_toolset'),
  mcp_server_name: z.string().min(1).max(255),
  default_config: DefaultConfig.nullable().optional(),
  configs: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(128),
        enabled: z.boolean().nullable().optional(),
        permission_policy: PermissionPolicy.nullable().optional(),
      }),
    )
    .nullable()
    .optional(),
});

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * JSON Schema of a custom tool's input: an object schema. Checked without being rebuilt, so the
 * stored schema is the caller's, key order included (property order is what the model sees).
 */
const InputSchema = z.unknown().superRefine((value, context) => {
  if (!isPlainObject(value)) {
    context.addIssue({ code: 'custom', message: 'must be a JSON Schema object such as {"type":"object","properties":{…}}' });
    return;
  }
  if (value.type !== 'object') context.addIssue({ code: 'custom', path: ['type'], message: 'must be "object"' });
  if (value.properties !== undefined && value.properties !== null && !isPlainObject(value.properties)) {
    context.addIssue({ code: 'custom', path: ['properties'], message: 'must be an object mapping property names to schemas' });
  }
  if (value.required !== undefined && value.required !== null && !(Array.isArray(value.required) && value.required.every((item) => typeof item === 'string'))) {
    context.addIssue({ code: 'custom', path: ['required'], message: 'must be an array of property names' });
  }
}) as z.ZodType<{ type: 'object'; properties?: Record<string, unknown> | null; required?: string[] | null; [key: string]: unknown }>;

const CustomTool = z.strictObject({
  type: z.literal('custom'),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 characters of letters, digits, "_" or "-"'),
  description: z.string(),
  input_schema: InputSchema,
});

export const ToolParam = z.discriminatedUnion('type', [AgentToolset, McpToolset, CustomTool]);
export type ToolParam = z.infer<typeof ToolParam>;
export type AgentToolsetParam = z.infer<typeof AgentToolset>;
export type McpToolsetParam = z.infer<typeof McpToolset>;
