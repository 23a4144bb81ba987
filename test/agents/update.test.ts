import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AgentUpdateParams } from '@anthropic-ai/sdk/resources/beta/agents/agents';
import { allAgents, BETA, describeOnStorages, freshWorkspace, rejectsWith, sleep } from './support.ts';

/** Versions: retrieve, update, no-op updates, optimistic concurrency, archive, workspaces. */

describeOnStorages('agents: versions and updates', (oma) => {
  it('[AGT-10] retrieve: latest by default, ?version=N pins, unknown version 404, bad version 400', async () => {
    const { client } = await freshWorkspace(oma());
    const v1 = await client.beta.agents.create({ name: 'one', model: 'm' });
    const v2 = await client.beta.agents.update(v1.id, { name: 'two' });
    assert.equal(v2.version, 2);
    assert.equal((await client.beta.agents.retrieve(v1.id)).name, 'two');
    assert.deepEqual({ ...(await client.beta.agents.retrieve(v1.id, { version: 1 })) }, { ...v1 });
    assert.deepEqual({ ...(await client.beta.agents.retrieve(v1.id, { version: 2 })) }, { ...v2 });
    await rejectsWith(client.beta.agents.retrieve(v1.id, { version: 3 }), Anthropic.NotFoundError, { status: 404, parts: ['version 3'] });
    await rejectsWith(client.beta.agents.retrieve('agent_nope'), Anthropic.NotFoundError, { status: 404, parts: ['agent_nope'] });
    await rejectsWith(client.beta.agents.retrieve(v1.id, { version: 0 }), Anthropic.BadRequestError, { status: 400, parts: ['version'] });
    await rejectsWith(client.get(`/v1/agents/${v1.id}?version=1.5`, BETA), Anthropic.BadRequestError, { status: 400, parts: ['version'] });
  });

  it('[AGT-11] update makes a new version, keeps omitted fields, clears with null or "", replaces arrays whole', async () => {
    const { client } = await freshWorkspace(oma());
    const created = await client.beta.agents.create({
      name: 'full',
      model: 'm',
      description: 'd',
      system: 's',
      tools: [
        { type: 'custom', name: 'a', description: 'A', input_schema: { type: 'object' } },
        { type: 'mcp_toolset', mcp_server_name: 'x' },
      ],
      mcp_servers: [{ type: 'url', name: 'x', url: 'https://x.example/mcp' }],
      skills: [{ type: 'anthropic', skill_id: 'xlsx' }],
    });
    // mcp_servers without tools would leave the server unreferenced: give a toolset for it.
    await rejectsWith(client.beta.agents.update(created.id, { tools: [] }), Anthropic.BadRequestError, { status: 400, parts: ['mcp_servers.0', '"x"'] });
    await sleep(5);
    const v2 = await client.beta.agents.update(created.id, { description: '', system: null });
    assert.equal(v2.version, 2);
    assert.equal(v2.description, null);
    assert.equal(v2.system, null);
    assert.equal(v2.name, 'full');
    assert.equal(v2.created_at, created.created_at);
    assert.ok(v2.updated_at > created.updated_at, 'updated_at is the time of the new version');
    assert.deepEqual(v2.tools, created.tools);
    assert.deepEqual(v2.skills, created.skills);

    const v3 = await client.beta.agents.update(created.id, { tools: null, mcp_servers: [], skills: [] });
    assert.deepEqual([v3.version, v3.tools, v3.mcp_servers, v3.skills], [3, [], [], []]);
    const v4 = await client.beta.agents.update(created.id, { tools: [{ type: 'custom', name: 'b', description: 'B', input_schema: { type: 'object' } }], skills: null });
    assert.deepEqual(v4.tools, [{ type: 'custom', name: 'b', description: 'B', input_schema: { type: 'object' } }]);
    assert.deepEqual(v4.skills, []);

    // Old versions are immutable.
    assert.deepEqual({ ...(await client.beta.agents.retrieve(created.id, { version: 1 })) }, { ...created });
    assert.deepEqual({ ...(await client.beta.agents.retrieve(created.id, { version: 2 })) }, { ...v2 });
    await rejectsWith(client.post(`/v1/agents/${created.id}`, { body: { name: null }, ...BETA }), Anthropic.BadRequestError, { status: 400, parts: ['name'] });
    await rejectsWith(client.beta.agents.update(created.id, { name: '' }), Anthropic.BadRequestError, { status: 400, parts: ['name'] });
    assert.equal((await client.beta.agents.retrieve(created.id)).version, 4);
  });

  it('[AGT-12] model update is whole-object replacement, except that an omitted effort is kept', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'm', model: { id: 'claude-opus-4-6', effort: 'low', inference_geo: 'us', speed: 'fast' } });
    const v2 = await client.beta.agents.update(agent.id, { model: { id: 'claude-sonnet-4-6' } });
    assert.deepEqual(v2.model, { id: 'claude-sonnet-4-6', effort: { type: 'low' }, speed: 'standard' });
    const v3 = await client.beta.agents.update(agent.id, { model: 'claude-haiku-4-5' });
    assert.deepEqual(v3.model, { id: 'claude-haiku-4-5', effort: { type: 'low' }, speed: 'standard' });
    const v4 = await client.beta.agents.update(agent.id, { model: { id: 'claude-haiku-4-5', effort: null } });
    assert.deepEqual(v4.model, { id: 'claude-haiku-4-5', effort: { type: 'high' }, speed: 'standard' });
    assert.deepEqual([v2.version, v3.version, v4.version], [2, 3, 4]);
  });

  it('[AGT-13] metadata: upsert, delete with null, keep when omitted or null; limits give invalid_metadata', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'meta', model: 'm', metadata: { a: '1', b: '2' } });
    const v2 = await client.beta.agents.update(agent.id, { metadata: { b: null, c: '3', a: '10' } });
    assert.deepEqual(v2.metadata, { a: '10', c: '3' });
    const v3 = await client.beta.agents.update(agent.id, { metadata: null, description: 'x' });
    assert.deepEqual(v3.metadata, { a: '10', c: '3' });
    const v4 = await client.beta.agents.update(agent.id, { description: 'y' });
    assert.deepEqual(v4.metadata, { a: '10', c: '3' });

    const many = Object.fromEntries(Array.from({ length: 15 }, (_, index) => [`k${index}`, 'v']));
    await rejectsWith(client.beta.agents.update(agent.id, { metadata: many }), Anthropic.BadRequestError, { status: 400, parts: ['metadata', '16'], errorCode: 'invalid_metadata' });
    await rejectsWith(client.beta.agents.create({ name: 'x', model: 'm', metadata: { ['k'.repeat(65)]: 'v' } }), Anthropic.BadRequestError, {
      status: 400,
      parts: ['metadata'],
      errorCode: 'invalid_metadata',
    });
    await rejectsWith(client.beta.agents.create({ name: 'x', model: 'm', metadata: { k: 'v'.repeat(513) } }), Anthropic.BadRequestError, {
      status: 400,
      parts: ['metadata', '512'],
      errorCode: 'invalid_metadata',
    });
    assert.equal((await client.beta.agents.retrieve(agent.id)).version, 4);
    assert.equal((await allAgents(client)).length, 1);
  });

  it('[AGT-14] an update that changes nothing returns the current version and makes none', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({
      name: 'same',
      model: 'claude-sonnet-4-6',
      description: 'd',
      tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'bash' }] }],
      metadata: { a: '1' },
    });
    const noops: AgentUpdateParams[] = [
      {},
      { name: 'same' },
      { description: 'd', metadata: { a: '1' } },
      { model: 'claude-sonnet-4-6' },
      { model: { id: 'claude-sonnet-4-6', effort: 'high', speed: 'standard' } },
      { tools: [{ type: 'agent_toolset_20260401', default_config: { enabled: true }, configs: [{ name: 'bash', type: 'bash' }] }] },
      { metadata: { gone: null } },
      { version: 1, execution_identity: { type: 'service_account' } },
    ];
    for (const body of noops) {
      const result = await client.beta.agents.update(agent.id, body);
      assert.deepEqual({ ...result }, { ...agent }, JSON.stringify(body));
    }
    assert.equal((await client.beta.agents.versions.list(agent.id)).data.length, 1);
  });

  it('[AGT-15] a stale version is a 409 version_conflict that the SDK does not retry; the right version applies', async () => {
    const workspace = await freshWorkspace(oma(), { maxRetries: 2 });
    const { client } = workspace;
    const agent = await client.beta.agents.create({ name: 'occ', model: 'm' });
    await client.beta.agents.update(agent.id, { version: 1, name: 'occ-2' });

    const before = workspace.requests();
    const error = await rejectsWith(client.beta.agents.update(agent.id, { version: 1, name: 'lost' }), Anthropic.ConflictError, {
      status: 409,
      parts: ['version 1', 'current version is 2'],
      errorCode: 'version_conflict',
    });
    assert.equal(error.headers?.get('x-should-retry'), 'false');
    assert.equal(workspace.requests() - before, 1, 'the SDK (maxRetries 2) sent the request once');
    assert.equal((await client.beta.agents.retrieve(agent.id)).name, 'occ-2');

    const applied = await client.beta.agents.update(agent.id, { version: 2, name: 'occ-3' });
    assert.equal(applied.version, 3);
    await rejectsWith(client.beta.agents.update(agent.id, { version: 0 }), Anthropic.BadRequestError, { status: 400, parts: ['version'] });
  });

  it('[AGT-16] concurrent updates make consecutive versions and lose none', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'race', model: 'm' });
    const results = await Promise.all(Array.from({ length: 6 }, (_, index) => client.beta.agents.update(agent.id, { description: `writer ${index}` })));
    assert.deepEqual(results.map((result) => result.version).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7]);
    const versions = [];
    for await (const version of client.beta.agents.versions.list(agent.id)) versions.push(version);
    assert.deepEqual(versions.map((version) => version.version), [7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(new Set(versions.slice(0, 6).map((version) => version.description)), new Set(Array.from({ length: 6 }, (_, index) => `writer ${index}`)));
  });

  it('[AGT-19] versions.list: full agents, newest first, across pages', async () => {
    const { client } = await freshWorkspace(oma());
    const agent = await client.beta.agents.create({ name: 'v1', model: 'm' });
    const made = [agent];
    for (const name of ['v2', 'v3', 'v4', 'v5']) made.push(await client.beta.agents.update(agent.id, { name }));
    const first = await client.beta.agents.versions.list(agent.id, { limit: 2 });
    assert.deepEqual(first.data.map((version) => ({ ...version })), [{ ...made[4] }, { ...made[3] }]);
    assert.equal(typeof first.next_page, 'string');
    const second = await first.getNextPage();
    assert.deepEqual(second.data.map((version) => version.name), ['v3', 'v2']);
    const third = await client.beta.agents.versions.list(agent.id, { limit: 2, page: second.next_page });
    assert.deepEqual(third.data.map((version) => ({ ...version })), [{ ...agent }]);
    assert.equal(third.next_page, null);
    assert.equal(third.hasNextPage(), false);
    await rejectsWith(client.beta.agents.versions.list('agent_missing'), Anthropic.NotFoundError, { status: 404, parts: ['agent_missing'] });
  });

  it('[AGT-20] [AGT-21] archive: archived_at set once, still retrievable, then read-only (409 agent_archived, not retried)', async () => {
    const workspace = await freshWorkspace(oma(), { maxRetries: 2 });
    const { client, key } = workspace;
    const agent = await client.beta.agents.create({ name: 'old', model: 'm' });
    const v2 = await client.beta.agents.update(agent.id, { name: 'older' });
    // The SDK sends archive without a body.
    const archived = await client.beta.agents.archive(agent.id);
    assert.match(archived.archived_at ?? '', /^\d{4}-\d{2}-\d{2}T.*Z$/);
    assert.deepEqual({ ...archived }, { ...v2, archived_at: archived.archived_at });
    assert.equal((await client.beta.agents.retrieve(agent.id, { version: 1 })).archived_at, archived.archived_at);

    await sleep(5);
    const again = await client.beta.agents.archive(agent.id);
    assert.equal(again.archived_at, archived.archived_at, 'archiving twice keeps the first time');

    const before = workspace.requests();
    const error = await rejectsWith(client.beta.agents.update(agent.id, { name: 'new' }), Anthropic.ConflictError, {
      status: 409,
      parts: ['archived'],
      errorCode: 'agent_archived',
    });
    assert.equal(error.headers?.get('x-should-retry'), 'false');
    assert.equal(workspace.requests() - before, 1);
    await rejectsWith(client.beta.agents.update(agent.id, {}), Anthropic.ConflictError, { status: 409, errorCode: 'agent_archived' });
    assert.deepEqual({ ...(await client.beta.agents.retrieve(agent.id)) }, { ...archived });
    assert.equal((await client.beta.agents.versions.list(agent.id)).data.length, 2);

    // A raw body-less POST with no content-type also archives.
    const other = await client.beta.agents.create({ name: 'raw', model: 'm' });
    const response = await fetch(`${oma().url}/v1/agents/${other.id}/archive`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'anthropic-beta': 'managed-agents-2026-04-01' },
    });
    assert.equal(response.status, 200);
    assert.notEqual(((await response.json()) as { archived_at: string | null }).archived_at, null);
    await rejectsWith(client.beta.agents.archive('agent_missing'), Anthropic.NotFoundError, { status: 404, parts: ['agent_missing'] });
  });

  it("[AGT-22] another workspace's agent is a 404 everywhere and never listed", async () => {
    const mine = await freshWorkspace(oma());
    const theirs = await freshWorkspace(oma());
    const agent = await mine.client.beta.agents.create({ name: 'private', model: 'm' });
    const stranger = theirs.client.beta.agents;
    await rejectsWith(stranger.retrieve(agent.id), Anthropic.NotFoundError, { status: 404, parts: [agent.id] });
    await rejectsWith(stranger.retrieve(agent.id, { version: 1 }), Anthropic.NotFoundError, { status: 404 });
    await rejectsWith(stranger.update(agent.id, { name: 'mine now' }), Anthropic.NotFoundError, { status: 404 });
    await rejectsWith(stranger.update(agent.id, { version: 1, name: 'mine now' }), Anthropic.NotFoundError, { status: 404 });
    await rejectsWith(stranger.archive(agent.id), Anthropic.NotFoundError, { status: 404 });
    await rejectsWith(stranger.versions.list(agent.id), Anthropic.NotFoundError, { status: 404 });
    assert.deepEqual(await allAgents(theirs.client), []);
    assert.deepEqual({ ...(await mine.client.beta.agents.retrieve(agent.id)) }, { ...agent }, 'unchanged and not archived');
  });
});
