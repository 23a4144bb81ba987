import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { ModelRequest } from '../../src/model/interface.ts';
import { startMcpServer, type TestMcpServer } from '../../src/testing/mcp-server.ts';
import { describeBrain, lastIdle, listAll, TOOLSET, userText, waitForIdle } from '../brain/support.ts';

/**
 * MCP servers end to end: an agent with an OAuth-protected MCP server, a session with a vault
 * holding its credential, driven by the official SDK. The brain lists and calls the server's tools
 * from the host with the vault's token, refreshing it when it expired; failures of the server are
 * tool errors or session errors, and the turn always ends idle.
 */

const CLIENT_ID = 'oma-test-client';
let environments = 0;
const CLIENT_SECRET = `OMACANARY-client-secret-${Date.now()}`;

const toolNames = (request: ModelRequest) => (request.tools ?? []).map((tool) => (tool as { name: string }).name);
const use = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }] });
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

describeBrain('MCP servers in sessions', (harness) => {
  let mcp: TestMcpServer;
  before(async () => {
    mcp = await startMcpServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenAuth: 'client_secret_post' });
  });
  after(() => mcp?.close());

  /** A vault with an mcp_oauth credential for the test server (fresh tokens), and a session of an agent using it. */
  async function setup(options: { policy?: 'always_allow' | 'always_ask'; url?: string; vault?: boolean; expired?: boolean } = {}) {
    const { client } = harness();
    const tokens = mcp.issueTokens();
    const url = options.url ?? mcp.url;
    const agent = await client.beta.agents.create({
      name: 'mcp agent',
      model: 'claude-sonnet-4-6',
      tools: [TOOLSET, { type: 'mcp_toolset', mcp_server_name: 'tools', default_config: { permission_policy: { type: options.policy ?? 'always_allow' } } }],
      mcp_servers: [{ type: 'url', name: 'tools', url }],
    } as never);
    const environment = await client.beta.environments.create({ name: `mcp env ${++environments}` });
    const vaultIds: string[] = [];
    if (options.vault !== false) {
      const vault = await client.beta.vaults.create({ display_name: 'mcp vault' });
      await client.beta.vaults.credentials.create(vault.id, {
        display_name: 'test server',
        auth: {
          type: 'mcp_oauth',
          mcp_server_url: url,
          access_token: tokens.access_token,
          expires_at: new Date(Date.now() + (options.expired ? 1_000 : 3_600_000)).toISOString(),
          refresh: { refresh_token: tokens.refresh_token, client_id: CLIENT_ID, token_endpoint: mcp.tokenEndpoint, token_endpoint_auth: { type: 'client_secret_post', client_secret: CLIENT_SECRET } },
        },
      } as never);
      vaultIds.push(vault.id);
    }
    const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: vaultIds });
    return { session, tokens };
  }

  async function run(sessionId: string, name: string, count = 1) {
    const { client } = harness();
    await client.beta.sessions.events.send(sessionId, { events: [userText(`[${name}] go`)] });
    return waitForIdle(client, sessionId, { count, timeoutMs: 30_000 });
  }

  it('[MCP-1] [MCP-2] the server\'s tools reach the model; calls run on the host with the vault\'s bearer and are recorded as MCP events', async () => {
    const { scripts } = harness();
    const { session, tokens } = await setup();
    const { requests } = scripts.add('mcp-call', [use('echo', { text: 'hello over mcp' }), text('It echoed.')]);
    const events = await run(session.id, 'mcp-call');
    assert.deepEqual(toolNames(requests[0]!).filter((name) => ['echo', 'add', 'fail'].includes(name)), ['echo', 'add', 'fail'], 'MCP tools next to the toolset');
    assert.ok(toolNames(requests[0]!).includes('bash'));
    const useEvent = events.find((event) => event.type === 'agent.mcp_tool_use') as any;
    assert.equal(useEvent.name, 'echo');
    assert.equal(useEvent.mcp_server_name, 'tools');
    assert.deepEqual(useEvent.input, { text: 'hello over mcp' });
    assert.equal(useEvent.evaluated_permission, 'allow');
    const result = events.find((event) => event.type === 'agent.mcp_tool_result') as any;
    assert.equal(result.mcp_tool_use_id, useEvent.id);
    assert.equal(result.is_error, false);
    assert.equal(result.content[0].text, 'hello over mcp');
    // The model got the result as a tool_result of its tool_use.
    const answer = JSON.stringify(requests[1]!.messages.at(-1));
    assert.match(answer, /tool_result/);
    assert.match(answer, /hello over mcp/);
    assert.equal(mcp.calls.at(-1)!.authorization, `Bearer ${tokens.access_token}`, 'the vault\'s token went to the server');
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    const all = JSON.stringify(await listAll(harness().client, session.id));
    for (const secret of [tokens.access_token, tokens.refresh_token, CLIENT_SECRET]) assert.ok(!all.includes(secret), 'no token in any event');
    assert.ok(!JSON.stringify(requests).includes(tokens.access_token), 'the model never sees the token');
  });

  it('[MCP-2] a refused (expired) access token is refreshed through the token endpoint once, the call retried, and the new token kept', async () => {
    const { scripts } = harness();
    const { session, tokens } = await setup();
    mcp.expireAccessTokens();
    const before = mcp.tokenRequests.length;
    scripts.add('mcp-refresh', [use('add', { a: 2, b: 3 }), text('Five.'), use('echo', { text: 'again' }), text('Again.')]);
    let events = await run(session.id, 'mcp-refresh');
    const result = events.find((event) => event.type === 'agent.mcp_tool_result') as any;
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.content[0].text, '5');
    const refreshes = mcp.tokenRequests.slice(before);
    assert.equal(refreshes.length, 1, 'one refresh');
    assert.equal(refreshes[0]!.refresh_token, tokens.refresh_token);
    assert.equal(refreshes[0]!.client_auth, 'post');
    assert.notEqual(mcp.calls.at(-1)!.authorization, `Bearer ${tokens.access_token}`);
    // A later run (a new brain) reads the refreshed token from the vault: no second refresh.
    events = await run(session.id, 'mcp-refresh', 2);
    assert.equal(mcp.tokenRequests.length - before, 1);
    assert.equal((events.filter((event) => event.type === 'agent.mcp_tool_result').at(-1) as any).content[0].text, 'again');
  });

  it('[MCP-2] an access token past its expires_at is refreshed before it is sent', async () => {
    const { scripts } = harness();
    const { session, tokens } = await setup({ expired: true });
    const before = mcp.tokenRequests.length;
    scripts.add('mcp-expired', [use('echo', { text: 'fresh' }), text('Ok.')]);
    const events = await run(session.id, 'mcp-expired');
    assert.equal((events.find((event) => event.type === 'agent.mcp_tool_result') as any).is_error, false);
    assert.equal(mcp.tokenRequests.length - before, 1);
    assert.ok(mcp.calls.filter((call) => call.authorization === `Bearer ${tokens.access_token}`).length === 0, 'the expired token was never sent');
  });

  it('[MCP-1] always_ask: the call waits for user.tool_confirmation; allow runs it, deny does not', async () => {
    const { client, scripts } = harness();
    const { session } = await setup({ policy: 'always_ask' });
    scripts.add('mcp-ask', [use('echo', { text: 'asked' }), text('Ran it.'), use('echo', { text: 'denied' }), text('Not run.')]);
    let events = await run(session.id, 'mcp-ask');
    const asked = events.find((event) => event.type === 'agent.mcp_tool_use') as any;
    assert.equal(asked.evaluated_permission, 'ask');
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [asked.id] });
    const calls = mcp.calls.length;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: asked.id, result: 'allow' }] });
    events = await waitForIdle(client, session.id, { count: 2, timeoutMs: 30_000 });
    assert.equal(mcp.calls.length, calls + 1);
    assert.equal((events.filter((event) => event.type === 'agent.mcp_tool_result').at(-1) as any).content[0].text, 'asked');
    await client.beta.sessions.events.send(session.id, { events: [userText('again')] });
    events = await waitForIdle(client, session.id, { count: 3, timeoutMs: 30_000 });
    const second = events.filter((event) => event.type === 'agent.mcp_tool_use').at(-1) as any;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: second.id, result: 'deny', deny_message: 'no thanks' }] });
    events = await waitForIdle(client, session.id, { count: 4, timeoutMs: 30_000 });
    const denied = events.filter((event) => event.type === 'agent.mcp_tool_result').at(-1) as any;
    assert.equal(denied.mcp_tool_use_id, second.id);
    assert.equal(denied.is_error, true);
    assert.equal(mcp.calls.length, calls + 1, 'a denied call never reaches the server');
  });

  it('[MCP-1] a result longer than the tool output limit keeps its end, after a marker', async () => {
    const { scripts } = harness();
    const { session } = await setup();
    const long = `${'x'.repeat(150 * 1024)}THE END`;
    scripts.add('mcp-long', [use('echo', { text: long }), text('Long.')]);
    const events = await run(session.id, 'mcp-long');
    const result = events.find((event) => event.type === 'agent.mcp_tool_result') as any;
    assert.match(result.content[0].text, /^\[output truncated: showing the last 102400 of 153607 bytes\]\n/);
    assert.ok(result.content[0].text.endsWith('THE END'));
  });

  it('[MCP-3] a tool that answers with an error is a tool error; the turn goes on', async () => {
    const { scripts } = harness();
    const { session } = await setup();
    scripts.add('mcp-errors', [use('fail', {}), text('It failed.')]);
    const events = await run(session.id, 'mcp-errors');
    const result = events.find((event) => event.type === 'agent.mcp_tool_result') as any;
    assert.equal(result.is_error, true);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[MCP-3] a server that is down, unreachable or refuses the credential is a session.error; the turn still ends idle', async () => {
    const { scripts } = harness();
    const cases = [
      { name: 'mcp-down', setup: async () => (mcp.setDown(true), setup()), type: 'mcp_connection_failed_error' },
      { name: 'mcp-unreachable', setup: () => setup({ url: 'http://127.0.0.1:1/mcp' }), type: 'mcp_connection_failed_error' },
      { name: 'mcp-nodns', setup: () => setup({ url: 'http://mcp.oma-test.invalid/mcp' }), type: 'mcp_connection_failed_error' },
      { name: 'mcp-noauth', setup: () => setup({ vault: false }), type: 'mcp_authentication_failed_error' },
    ];
    try {
      for (const entry of cases) {
        const { session } = await entry.setup();
        const { requests } = scripts.add(entry.name, [(request) => (toolNames(request).includes('echo') ? use('echo', { text: 'should not be offered' }) : text('Working without the MCP server.'))]);
        const events = await run(session.id, entry.name);
        const error = events.find((event) => event.type === 'session.error') as any;
        assert.equal(error?.error.type, entry.type, `${entry.name}: ${JSON.stringify(events.map((event) => event.type))}`);
        assert.equal(error.error.mcp_server_name, 'tools');
        assert.equal(lastIdle(events).stop_reason.type, 'end_turn', entry.name);
        assert.ok(!toolNames(requests[0]!).includes('echo'), `${entry.name}: tools of a server that could not be listed are not offered`);
        mcp.setDown(false);
      }
    } finally {
      mcp.setDown(false);
    }
  });
});
