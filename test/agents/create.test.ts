import type Anthropic from '@anthropic-ai/sdk';
import type { AgentCreateParams, BetaManagedAgentsAgent } from '@anthropic-ai/sdk/resources/beta/agents/agents';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeOnStorages, freshWorkspace } from './support.ts';

/** Create and the resolved form of every field, driven by the official SDK. */

const ID = /^agent_[1-9A-HJ-NP-Za-km-z]{22}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The input schema is sent with keys in an unusual order, to prove the order survives. */
const lookupSchema = { properties: { id: { type: 'string' }, verbose: { type: 'boolean' } }, type: 'object' as const, required: ['id'], additionalProperties: false };

function maximalParams(helperId: string): AgentCreateParams {
  return {
    name: 'Researcher',
    description: 'Finds things out',
    system: 'You are careful.',
    model: { id: 'claude-opus-4-6', effort: 'max', inference_geo: 'us', speed: 'fast' },
    tools: [
      {
        type: 'agent_toolset_20260401',
        default_config: { enabled: false, permission_policy: { type: 'always_ask' } },
        configs: [
          { name: 'bash', type: 'bash', enabled: true, permission_policy: { type: 'auto' } },
          { name: 'read' },
          { name: 'write', enabled: null, permission_policy: null },
          { name: 'edit', enabled: true },
          { name: 'glob', permission_policy: { type: 'always_allow' } },
          { name: 'grep', enabled: true },
          {
            name: 'web_fetch',
            enabled: true,
            allowed_domains: ['docs.example.com', 'example.org'],
            max_content_tokens: 5000,
            url_sources: { user_input: 'all', client_tool_results: { type: 'only', tools: [{ type: 'tool_reference', name: 'lookup' }] }, server_tool_results: 'none' },
          },
          {
            name: 'web_search',
            enabled: true,
            blocked_domains: ['ads.example.com', 'example.net/spam'],
            user_location: { type: 'approximate', city: 'Paris', country: 'FR', region: 'Île-de-France', timezone: 'Europe/Paris' },
          },
        ],
      },
      {
        type: 'mcp_toolset',
        mcp_server_name: 'github',
        default_config: { permission_policy: { type: 'always_allow' } },
        configs: [{ name: 'create_issue', permission_policy: { type: 'always_ask' } }, { name: 'delete_repo', enabled: false }],
      },
      { type: 'custom', name: 'lookup', description: 'Look up a record', input_schema: lookupSchema },
    ],
    mcp_servers: [{ type: 'url', name: 'github', url: 'https://mcp.example.com/github' }],
    skills: [
      { type: 'anthropic', skill_id: 'xlsx' },
      { type: 'anthropic', skill_id: 'pdf', version: '20251013' },
      { type: 'custom', skill_id: 'skill_01XJ5abc', version: '3' },
    ],
    metadata: { team: 'research', tier: 'gold' },
    multiagent: {
      type: 'multiagent_20261001',
      advisor: { type: 'enabled', model: 'claude-opus-4-6' },
      subagents: { type: 'enabled', inline_agents: { type: 'disabled' }, predefined_agents: [helperId, { type: 'self' }] },
      workflows: { type: 'disabled' },
    },
    execution_identity: { type: 'aws_role', role_arn: 'arn:aws:iam::123456789012:role/agent-runner' },
  };
}

/** What the maximal agent must read back as (without id and timestamps). */
function maximalExpected(id: string, helperId: string) {
  const ask = { type: 'always_ask' } as const;
  return {
    type: 'agent',
    id,
    version: 1,
    name: 'Researcher',
    description: 'Finds things out',
    system: 'You are careful.',
    model: { id: 'claude-opus-4-6', effort: { type: 'max' }, inference_geo: 'us', speed: 'fast' },
    tools: [
      {
        type: 'agent_toolset_20260401',
        default_config: { enabled: false, permission_policy: ask },
        configs: [
          { name: 'bash', type: 'bash', enabled: true, permission_policy: { type: 'auto' } },
          { name: 'read', type: 'read', enabled: false, permission_policy: ask },
          { name: 'write', type: 'write', enabled: false, permission_policy: ask },
          { name: 'edit', type: 'edit', enabled: true, permission_policy: ask },
          { name: 'glob', type: 'glob', enabled: false, permission_policy: { type: 'always_allow' } },
          { name: 'grep', type: 'grep', enabled: true, permission_policy: ask },
          {
            name: 'web_fetch',
            type: 'web_fetch',
            enabled: true,
            permission_policy: ask,
            url_sources: { user_input: { type: 'all' }, client_tool_results: { type: 'only', tools: [{ type: 'tool_reference', name: 'lookup' }] }, server_tool_results: { type: 'none' } },
            allowed_domains: ['docs.example.com', 'example.org'],
            max_content_tokens: 5000,
          },
          {
            name: 'web_search',
            type: 'web_search',
            enabled: true,
            permission_policy: ask,
            blocked_domains: ['ads.example.com', 'example.net/spam'],
            user_location: { type: 'approximate', city: 'Paris', country: 'FR', region: 'Île-de-France', timezone: 'Europe/Paris' },
          },
        ],
      },
      {
        type: 'mcp_toolset',
        mcp_server_name: 'github',
        default_config: { enabled: true, permission_policy: { type: 'always_allow' } },
        configs: [
          { name: 'create_issue', enabled: true, permission_policy: ask },
          { name: 'delete_repo', enabled: false, permission_policy: { type: 'always_allow' } },
        ],
      },
      { type: 'custom', name: 'lookup', description: 'Look up a record', input_schema: lookupSchema },
    ],
    mcp_servers: [{ type: 'url', name: 'github', url: 'https://mcp.example.com/github' }],
    skills: [
      { type: 'anthropic', skill_id: 'xlsx', version: 'latest' },
      { type: 'anthropic', skill_id: 'pdf', version: '20251013' },
      { type: 'custom', skill_id: 'skill_01XJ5abc', version: '3' },
    ],
    multiagent: {
      type: 'multiagent_20261001',
      advisor: { type: 'enabled', model: 'claude-opus-4-6' },
      subagents: {
        type: 'enabled',
        inline_agents: { type: 'disabled' },
        predefined_agents: [
          { type: 'agent', id: helperId, version: 1 },
          { type: 'agent', id, version: 1 },
        ],
      },
      workflows: { type: 'disabled' },
    },
    execution_identity: { type: 'aws_role', role_arn: 'arn:aws:iam::123456789012:role/agent-runner' },
    metadata: { team: 'research', tier: 'gold' },
  };
}

const withoutTimes = ({ created_at: _c, updated_at: _u, archived_at: _a, ...rest }: BetaManagedAgentsAgent) => rest;

describeOnStorages('agents: create', (oma) => {
  it('[AGT-1] [AGT-2] a minimal agent: version 1, every field present, defaults resolved', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'helper', model: 'claude-sonnet-4-6' });
    assert.match(agent.id, ID);
    assert.match(agent.created_at, TIMESTAMP);
    assert.equal(agent.updated_at, agent.created_at);
    assert.deepEqual(
      { ...agent },
      {
        type: 'agent',
        id: agent.id,
        version: 1,
        name: 'helper',
        description: null,
        system: null,
        model: { id: 'claude-sonnet-4-6', effort: { type: 'high' }, speed: 'standard' },
        tools: [],
        mcp_servers: [],
        skills: [],
        multiagent: null,
        execution_identity: { type: 'service_account' },
        metadata: {},
        created_at: agent.created_at,
        updated_at: agent.created_at,
        archived_at: null,
      },
    );
    assert.deepEqual({ ...(await client.beta.agents.retrieve(agent.id)) }, { ...agent });
  });

  it('[AGT-1] the wire body has every nullable key present, with a JSON content-type', async () => {
    const { client, key } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'wire', model: 'claude-haiku-4-5' });
    const response = await fetch(`${oma().url}/v1/agents/${agent.id}`, {
      headers: { authorization: `Bearer ${key}`, 'anthropic-beta': 'managed-agents-2026-04-01' },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await response.json()) as Record<string, unknown>;
    for (const field of ['description', 'system', 'multiagent', 'archived_at']) {
      assert.ok(field in body, `${field} is present`);
      assert.equal(body[field], null);
    }
  });

  it('[AGT-3] a maximal agent round-trips every field through create, retrieve, list and versions', async () => {
    const { client, key } = await freshWorkspace(oma());
    const helper = await client.beta.agents.create({ name: 'helper', model: 'claude-haiku-4-5' });
    const agent = await client.beta.agents.create(maximalParams(helper.id));
    assert.deepEqual(withoutTimes(agent), maximalExpected(agent.id, helper.id));
    assert.equal(agent.archived_at, null);

    assert.deepEqual({ ...(await client.beta.agents.retrieve(agent.id)) }, { ...agent });
    assert.deepEqual({ ...(await client.beta.agents.retrieve(agent.id, { version: 1 })) }, { ...agent });
    const listed = (await client.beta.agents.list()).data.find((item) => item.id === agent.id);
    assert.deepEqual(listed, { ...agent });
    assert.deepEqual((await client.beta.agents.versions.list(agent.id)).data, [{ ...agent }]);

    // The custom tool's input schema comes back byte for byte, key order included.
    const raw = await fetch(`${oma().url}/v1/agents/${agent.id}`, { headers: { authorization: `Bearer ${key}`, 'anthropic-beta': 'managed-agents-2026-04-01' } });
    const text = await raw.text();
    assert.ok(text.includes(JSON.stringify(lookupSchema)), 'input_schema is stored as sent');
  });

  it('[AGT-4] the agent toolset alone resolves to the documented defaults; configs echo only what was given', async () => {
    const { client } = await freshWorkspace(oma());
    const bare = await client.beta.agents.create({ name: 'a', model: 'm', tools: [{ type: 'agent_toolset_20260401' }] });
    assert.deepEqual(bare.tools, [{ type: 'agent_toolset_20260401', default_config: { enabled: true, permission_policy: { type: 'always_allow' } }, configs: [] }]);

    const merged = await client.beta.agents.create({
      name: 'b',
      model: 'm',
      tools: [
        {
          type: 'agent_toolset_20260401',
          default_config: { enabled: null, permission_policy: null },
          configs: [{ name: 'grep', enabled: false }, { name: 'bash' }, { name: 'grep', permission_policy: { type: 'always_ask' } }],
        },
      ],
    });
    assert.deepEqual(merged.tools, [
      {
        type: 'agent_toolset_20260401',
        default_config: { enabled: true, permission_policy: { type: 'always_allow' } },
        configs: [
          { name: 'grep', type: 'grep', enabled: false, permission_policy: { type: 'always_ask' } },
          { name: 'bash', type: 'bash', enabled: true, permission_policy: { type: 'always_allow' } },
        ],
      },
    ]);
  });

  it('[AGT-5] an MCP toolset defaults to enabled and always_ask', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({
      name: 'mcp',
      model: 'm',
      mcp_servers: [{ type: 'url', name: 'docs', url: 'http://127.0.0.1:9/mcp' }],
      tools: [{ type: 'mcp_toolset', mcp_server_name: 'docs', configs: [{ name: 'search' }, { name: 'write', enabled: false, permission_policy: { type: 'auto' } }] }],
    });
    assert.deepEqual(agent.tools, [
      {
        type: 'mcp_toolset',
        mcp_server_name: 'docs',
        default_config: { enabled: true, permission_policy: { type: 'always_ask' } },
        configs: [
          { name: 'search', enabled: true, permission_policy: { type: 'always_ask' } },
          { name: 'write', enabled: false, permission_policy: { type: 'auto' } },
        ],
      },
    ]);
    assert.deepEqual(agent.mcp_servers, [{ type: 'url', name: 'docs', url: 'http://127.0.0.1:9/mcp' }]);
  });

  it('[AGT-6] web tools: url_sources in object form with unset keys null; unset extras left out', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({
      name: 'web',
      model: 'm',
      tools: [
        {
          type: 'agent_toolset_20260401',
          configs: [
            { name: 'web_fetch' },
            { name: 'web_search', user_location: { type: 'approximate', country: 'DE', city: null } },
          ],
        },
        { type: 'custom', name: 'noop', description: '', input_schema: { type: 'object' } },
      ],
    });
    const toolset = agent.tools[0] as Anthropic.Beta.Agents.BetaManagedAgentsAgentToolset20260401;
    const allow = { type: 'always_allow' };
    assert.deepEqual(toolset.configs, [
      { name: 'web_fetch', type: 'web_fetch', enabled: true, permission_policy: allow, url_sources: null },
      { name: 'web_search', type: 'web_search', enabled: true, permission_policy: allow, user_location: { type: 'approximate', country: 'DE' } },
    ]);

    const sources = await client.beta.agents.create({
      name: 'sources',
      model: 'm',
      tools: [
        { type: 'agent_toolset_20260401', configs: [{ name: 'web_fetch', url_sources: { user_input: { type: 'none' }, server_tool_results: { type: 'except', tools: [{ type: 'tool_reference', name: 'web_search' }] } } }] },
      ],
    });
    const fetchConfig = (sources.tools[0] as Anthropic.Beta.Agents.BetaManagedAgentsAgentToolset20260401).configs[0] as Anthropic.Beta.Agents.BetaManagedAgentsWebFetchToolConfig;
    assert.deepEqual(fetchConfig.url_sources, {
      user_input: { type: 'none' },
      client_tool_results: null,
      server_tool_results: { type: 'except', tools: [{ type: 'tool_reference', name: 'web_search' }] },
    });
  });

  it('[AGT-7] model: bare string, string effort, object effort, and any model id', async () => {
    const { client } = await freshWorkspace(oma());
    const cases: Array<[AgentCreateParams['model'], unknown]> = [
      ['claude-opus-5-5', { id: 'claude-opus-5-5', effort: { type: 'high' }, speed: 'standard' }],
      [{ id: 'claude-sonnet-4-6', effort: 'low' }, { id: 'claude-sonnet-4-6', effort: { type: 'low' }, speed: 'standard' }],
      [{ id: 'claude-sonnet-4-6', effort: { type: 'xhigh' }, speed: null, inference_geo: null }, { id: 'claude-sonnet-4-6', effort: { type: 'xhigh' }, speed: 'standard' }],
      [{ id: 'my-local-model', effort: null, inference_geo: 'global', speed: 'fast' }, { id: 'my-local-model', effort: { type: 'high' }, inference_geo: 'global', speed: 'fast' }],
    ];
    for (const [model, expected] of cases) {
      const agent = await client.beta.agents.create({ name: 'model', model });
      assert.deepEqual(agent.model, expected, JSON.stringify(model));
    }
  });

  it('[AGT-8] skills: a version is always a string, "latest" when left out', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({
      name: 'skills',
      model: 'm',
      skills: [
        { type: 'anthropic', skill_id: 'docx', version: null },
        { type: 'custom', skill_id: 'skill_abc' },
        { type: 'custom', skill_id: 'skill_def', version: '1759178010641129' },
      ],
    });
    assert.deepEqual(agent.skills, [
      { type: 'anthropic', skill_id: 'docx', version: 'latest' },
      { type: 'custom', skill_id: 'skill_abc', version: 'latest' },
      { type: 'custom', skill_id: 'skill_def', version: '1759178010641129' },
    ]);
  });

  it('[AGT-9] execution_identity: null and service_account store the default; aws_role round-trips', async () => {
    const { client } = await freshWorkspace(oma());
    for (const identity of [null, { type: 'service_account' as const }]) {
      const agent = await client.beta.agents.create({ name: 'id', model: 'm', execution_identity: identity });
      assert.deepEqual(agent.execution_identity, { type: 'service_account' });
    }
    const role = { type: 'aws_role' as const, role_arn: 'arn:aws:iam::210987654321:role/path/runner' };
    const agent = await client.beta.agents.create({ name: 'id', model: 'm', execution_identity: role });
    assert.deepEqual(agent.execution_identity, role);
    const reset = await client.beta.agents.update(agent.id, { execution_identity: null });
    assert.deepEqual(reset.execution_identity, { type: 'service_account' });
    assert.equal(reset.version, 2);
  });
});
