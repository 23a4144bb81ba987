import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { allAgents, BETA, describeOnStorages, freshWorkspace, rejectsWith } from './support.ts';

/**
 * Bad bodies: each is a 400 invalid_request_error whose message names the problem, and nothing is
 * written. Bodies are posted with the SDK's raw `post` so that shapes its types forbid can be sent.
 */

const toolset = (configs: unknown[]) => ({ type: 'agent_toolset_20260401', configs });
const custom = (name: string) => ({ type: 'custom', name, description: 'd', input_schema: { type: 'object' } });
const server = (name: string) => ({ type: 'url', name, url: `https://mcp.example.com/${name}` });
const mcp = (name: string) => ({ type: 'mcp_toolset', mcp_server_name: name });

/** [what, extra body fields (over a valid {name, model}), parts the message must contain]. */
type Case = [string, Record<string, unknown>, string[]];

const shapeCases: Case[] = [
  ['missing name', { name: undefined }, ['name']],
  ['missing model', { model: undefined }, ['model']],
  ['empty name', { name: '' }, ['name']],
  ['name too long', { name: 'n'.repeat(257) }, ['name', '256']],
  ['name not a string', { name: 5 }, ['name', 'string']],
  ['description too long', { description: 'd'.repeat(2049) }, ['description', '2048']],
  ['system too long', { system: 's'.repeat(100_001) }, ['system', '100000']],
  ['unknown field', { colour: 'blue' }, ['colour']],
  ['model id with spaces', { model: 'claude sonnet' }, ['model.id']],
  ['model not a string or object', { model: 7 }, ['model']],
  ['unknown effort', { model: { id: 'm', effort: 'huge' } }, ['model.effort', 'high']],
  ['unknown speed', { model: { id: 'm', speed: 'slow' } }, ['model.speed']],
  ['unknown model key', { model: { id: 'm', temperature: 1 } }, ['model', 'temperature']],
  ['tools not an array', { tools: { type: 'custom' } }, ['tools']],
  ['unknown tool type', { tools: [{ type: 'bash_20250124' }] }, ['tools.0.type', 'agent_toolset_20260401']],
  ['bad permission policy', { tools: [{ type: 'agent_toolset_20260401', default_config: { permission_policy: { type: 'never' } } }] }, ['tools.0.default_config.permission_policy.type']],
  ['unknown built-in tool', { tools: [toolset([{ name: 'python' }])] }, ['tools.0.configs.0.name']],
  ['config type differs from name', { tools: [toolset([{ name: 'bash', type: 'read' }])] }, ['tools.0.configs.0.type']],
  ['web extras on another tool', { tools: [toolset([{ name: 'bash', allowed_domains: ['a.com'] }])] }, ['tools.0.configs.0', 'allowed_domains']],
  ['max_content_tokens not positive', { tools: [toolset([{ name: 'web_fetch', max_content_tokens: 0 }])] }, ['tools.0.configs.0.max_content_tokens']],
  ['lowercase country', { tools: [toolset([{ name: 'web_search', user_location: { type: 'approximate', country: 'fr' } }])] }, ['user_location.country', 'ISO']],
  ['unknown time zone', { tools: [toolset([{ name: 'web_search', user_location: { type: 'approximate', timezone: 'Mars/Olympus' } }])] }, ['user_location.timezone']],
  ['user_input "only"', { tools: [toolset([{ name: 'web_fetch', url_sources: { user_input: 'only' } }])] }, ['url_sources.user_input']],
  ['custom tool without description', { tools: [{ type: 'custom', name: 'x', input_schema: { type: 'object' } }] }, ['tools.0.description']],
  ['custom tool schema not an object schema', { tools: [{ type: 'custom', name: 'x', description: 'd', input_schema: { type: 'string' } }] }, ['tools.0.input_schema.type', 'object']],
  ['custom tool without schema', { tools: [{ type: 'custom', name: 'x', description: 'd' }] }, ['tools.0.input_schema']],
  ['MCP server URL not http', { mcp_servers: [{ type: 'url', name: 'x', url: 'ftp://x' }], tools: [mcp('x')] }, ['mcp_servers.0.url']],
  ['MCP server of unknown type', { mcp_servers: [{ type: 'stdio', name: 'x', url: 'https://x' }], tools: [mcp('x')] }, ['mcp_servers.0.type']],
  ['unknown skill type', { skills: [{ type: 'builtin', skill_id: 'x' }] }, ['skills.0.type']],
  ['custom skill without a skill_ id', { skills: [{ type: 'custom', skill_id: 'xlsx' }] }, ['skills.0.skill_id', 'skill_']],
  ['bad role ARN', { execution_identity: { type: 'aws_role', role_arn: 'my-role' } }, ['execution_identity.role_arn', 'ARN']],
  ['unknown execution identity', { execution_identity: { type: 'gcp_service_account' } }, ['execution_identity.type']],
  ['unknown multiagent type', { multiagent: { type: 'swarm' } }, ['multiagent.type']],
  ['empty coordinator roster', { multiagent: { type: 'coordinator', agents: [] } }, ['multiagent.agents', 'at least one']],
  ['advisor without model', { multiagent: { type: 'multiagent_20261001', advisor: { type: 'enabled' } } }, ['multiagent.advisor.model']],
];

const crossFieldCases: Case[] = [
  ['duplicate MCP server names', { mcp_servers: [server('a'), server('a')], tools: [mcp('a')] }, ['mcp_servers.1.name', '"a"']],
  ['more than 20 MCP servers', { mcp_servers: Array.from({ length: 21 }, (_, i) => server(`s${i}`)), tools: Array.from({ length: 21 }, (_, i) => mcp(`s${i}`)) }, ['mcp_servers', '20']],
  ['MCP server used by no toolset', { mcp_servers: [server('a'), server('b')], tools: [mcp('a')] }, ['mcp_servers.1', '"b"']],
  ['toolset naming a missing server', { mcp_servers: [server('a')], tools: [mcp('a'), mcp('b')] }, ['tools.1.mcp_server_name', '"b"']],
  ['two toolsets for one server', { mcp_servers: [server('a')], tools: [mcp('a'), mcp('a')] }, ['tools.1.mcp_server_name', '"a"']],
  ['two agent toolsets', { tools: [toolset([]), toolset([])] }, ['tools.1', 'only one']],
  ['custom tool name with a space', { tools: [custom('look up')] }, ['tools.0.name']],
  ['custom tool name too long', { tools: [custom('x'.repeat(129))] }, ['tools.0.name', '128']],
  ['duplicate custom tool names', { tools: [custom('a'), custom('a')] }, ['tools.1.name', '"a"']],
  ['custom tool named like a built-in', { tools: [toolset([]), custom('bash')] }, ['tools.1.name', 'built-in']],
  ['more than 256 tools', { tools: Array.from({ length: 257 }, (_, i) => custom(`t${i}`)) }, ['tools', '256']],
  ['agent toolset counts its 8 tools', { tools: [toolset([]), ...Array.from({ length: 249 }, (_, i) => custom(`t${i}`))] }, ['tools', '256', '257']],
  ['allowed and blocked domains', { tools: [toolset([{ name: 'web_fetch', allowed_domains: ['a.com'], blocked_domains: ['b.com'] }])] }, ['tools.0.configs.0', 'allowed_domains and blocked_domains']],
  ['allowed and blocked across merged entries', { tools: [toolset([{ name: 'web_search', allowed_domains: ['a.com'] }, { name: 'web_search', blocked_domains: ['b.com'] }])] }, ['allowed_domains and blocked_domains']],
  ['empty domain list', { tools: [toolset([{ name: 'web_search', blocked_domains: [] }])] }, ['tools.0.configs.0.blocked_domains', 'empty']],
  ['more than 64 domains', { tools: [toolset([{ name: 'web_fetch', allowed_domains: Array.from({ length: 65 }, (_, i) => `d${i}.com`) }])] }, ['allowed_domains', '64']],
  ['domain with a scheme', { tools: [toolset([{ name: 'web_fetch', allowed_domains: ['https://a.com'] }])] }, ['allowed_domains.0', 'hostname']],
  ['web_fetch domain with a path', { tools: [toolset([{ name: 'web_fetch', blocked_domains: ['a.com/x'] }])] }, ['blocked_domains.0', 'hostname']],
  ['url_sources all none', { tools: [toolset([{ name: 'web_fetch', url_sources: { user_input: 'none', client_tool_results: 'none', server_tool_results: { type: 'none' } } }])] }, ['url_sources', 'none']],
  ['client_tool_results naming no custom tool', { tools: [toolset([{ name: 'web_fetch', url_sources: { client_tool_results: { type: 'only', tools: [{ type: 'tool_reference', name: 'ghost' }] } } }])] }, ['client_tool_results.tools.0.name', 'ghost']],
  ['server_tool_results naming bash', { tools: [toolset([{ name: 'web_fetch', url_sources: { server_tool_results: { type: 'except', tools: [{ type: 'tool_reference', name: 'bash' }] } } }])] }, ['server_tool_results.tools.0.name', 'web_search']],
  ['empty only list', { tools: [toolset([{ name: 'web_fetch', url_sources: { server_tool_results: { type: 'only', tools: [] } } }])] }, ['server_tool_results.tools', 'at least one']],
  ['repeated tool reference', { tools: [toolset([{ name: 'web_fetch', url_sources: { server_tool_results: { type: 'only', tools: [{ type: 'tool_reference', name: 'web_search' }, { type: 'tool_reference', name: 'web_search' }] } } }])] }, ['server_tool_results.tools', 'different']],
  ['more than 64 skills', { skills: Array.from({ length: 65 }, (_, i) => ({ type: 'anthropic', skill_id: `s${i}` })) }, ['skills', '64']],
  ['duplicate skills', { skills: [{ type: 'anthropic', skill_id: 'pdf' }, { type: 'anthropic', skill_id: 'pdf', version: '2' }] }, ['skills.1.skill_id', '"pdf"']],
];

function withBase(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries({ name: 'valid', model: 'claude-sonnet-4-6', ...fields }).filter(([, value]) => value !== undefined));
}

describeOnStorages('agents: validation', (oma) => {
  it('[AGT-23] malformed create bodies are 400s naming the field; nothing is created', async () => {
    const { client } = await freshWorkspace(oma());
    for (const [what, fields, parts] of shapeCases) {
      const error = await rejectsWith(client.post('/v1/agents', { body: withBase(fields), ...BETA }), Anthropic.BadRequestError, { status: 400, parts }).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
      assert.equal(error.type, 'invalid_request_error', what);
    }
    await rejectsWith(client.post('/v1/agents', { body: [1], ...BETA }), Anthropic.BadRequestError, { status: 400, parts: ['body'] });
    await rejectsWith(client.post('/v1/agents', { body: withBase({ metadata: { a: 1 } }), ...BETA }), Anthropic.BadRequestError, {
      status: 400,
      parts: ['metadata', '"a"'],
      errorCode: 'invalid_metadata',
    });
    assert.deepEqual(await allAgents(client), []);
  });

  it('[AGT-24] cross-field rules are 400s naming the field; nothing is created', async () => {
    const { client } = await freshWorkspace(oma());
    for (const [what, fields, parts] of crossFieldCases) {
      await rejectsWith(client.post('/v1/agents', { body: withBase(fields), ...BETA }), Anthropic.BadRequestError, { status: 400, parts }).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
    }
    assert.deepEqual(await allAgents(client), []);
    // The limits themselves are accepted.
    const atLimit = await client.post<{ tools: unknown[] }>('/v1/agents', { body: withBase({ tools: [toolset([]), ...Array.from({ length: 248 }, (_, i) => custom(`t${i}`))] }), ...BETA });
    assert.equal(atLimit.tools.length, 249);
  });

  it('[AGT-23] [AGT-24] bad updates are 400s naming the field; the agent is unchanged', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({
      name: 'stable',
      model: 'claude-sonnet-4-6',
      mcp_servers: [{ type: 'url', name: 'a', url: 'https://a.example/mcp' }],
      tools: [{ type: 'mcp_toolset', mcp_server_name: 'a' }],
      metadata: { k: 'v' },
    });
    const updates: Case[] = [
      ['empty name', { name: '' }, ['name']],
      ['null model', { model: null }, ['model']],
      ['unknown field', { labels: {} }, ['labels']],
      ['version 0', { version: 0 }, ['version']],
      ['version not an integer', { version: 1.5 }, ['version']],
      ['dropping the toolset leaves the server unused', { tools: [] }, ['mcp_servers.0', '"a"']],
      ['dropping the server leaves the toolset dangling', { mcp_servers: null }, ['tools.0.mcp_server_name', '"a"']],
      ['metadata over 16 keys', { metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x${i}`, 'v'])) }, ['metadata', '16']],
      ['bad tool', { tools: [{ type: 'custom', name: '' }] }, ['tools.0']],
    ];
    for (const [what, body, parts] of updates) {
      await rejectsWith(client.post(`/v1/agents/${agent.id}`, { body, ...BETA }), Anthropic.BadRequestError, { status: 400, parts }).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
    }
    assert.deepEqual({ ...(await client.beta.agents.retrieve(agent.id)) }, { ...agent });
    assert.equal((await client.beta.agents.versions.list(agent.id)).data.length, 1);
  });
});
