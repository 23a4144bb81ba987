import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { allAgents, BETA, describeOnStorages, freshWorkspace, rejectsWith } from './support.ts';

/** `multiagent`: both forms accepted, stored and returned with every reference resolved. */

const enabledDefault = { type: 'enabled', inline_agents: { type: 'enabled' }, predefined_agents: [] };

describeOnStorages('agents: multiagent', (oma) => {
  it('[AGT-25] a coordinator roster resolves ids to versions, self to the version read, keeps the advisor', async () => {
    const { client } = await freshWorkspace(oma());
    const worker = await client.beta.agents.create({ name: 'worker', model: 'm' });
    await client.beta.agents.update(worker.id, { name: 'worker v2' });
    const pinned = await client.beta.agents.create({ name: 'pinned', model: 'm' });
    await client.beta.agents.update(pinned.id, { name: 'pinned v2' });

    const lead = await client.beta.agents.create({
      name: 'lead',
      model: 'm',
      multiagent: {
        type: 'coordinator',
        agents: [worker.id, { type: 'agent', id: pinned.id, version: 1 }, { type: 'self' }, { type: 'advisor', model: 'claude-opus-4-6' }],
      },
    });
    const roster = (version: number) => ({
      type: 'coordinator',
      agents: [
        { type: 'agent', id: worker.id, version: 2 },
        { type: 'agent', id: pinned.id, version: 1 },
        { type: 'agent', id: lead.id, version },
        { type: 'advisor', model: 'claude-opus-4-6' },
      ],
    });
    assert.deepEqual(lead.multiagent, roster(1));
    assert.deepEqual((await client.beta.agents.retrieve(lead.id)).multiagent, roster(1));

    // Carried forward to a new version, self points at that version; the old version still reads as 1.
    const v2 = await client.beta.agents.update(lead.id, { description: 'now with docs' });
    assert.deepEqual(v2.multiagent, roster(2));
    assert.deepEqual((await client.beta.agents.retrieve(lead.id, { version: 1 })).multiagent, roster(1));
    // Naming itself by id (no version) is the same as self: nothing changes, no new version.
    const same = await client.beta.agents.update(lead.id, {
      multiagent: { type: 'coordinator', agents: [worker.id, { type: 'agent', id: pinned.id, version: 1 }, lead.id, { type: 'advisor', model: 'claude-opus-4-6' }] },
    });
    assert.equal(same.version, 2);

    const cleared = await client.beta.agents.update(lead.id, { multiagent: null });
    assert.equal(cleared.multiagent, null);
    assert.equal(cleared.version, 3);
  });

  it('[AGT-25] roster references must exist in the workspace, be unarchived, single-agent and distinct', async () => {
    const { client } = await freshWorkspace(oma());
    const other = await freshWorkspace(oma());
    const foreign = await other.client.beta.agents.create({ name: 'foreign', model: 'm' });
    const retired = await client.beta.agents.create({ name: 'retired', model: 'm' });
    await client.beta.agents.archive(retired.id);
    const plain = await client.beta.agents.create({ name: 'plain', model: 'm' });
    const nested = await client.beta.agents.create({ name: 'nested', model: 'm', multiagent: { type: 'coordinator', agents: [plain.id] } });
    const before = (await allAgents(client)).length;

    const coordinator = (agents: unknown[]) => ({ name: 'lead', model: 'm', multiagent: { type: 'coordinator', agents } });
    const cases: Array<[unknown[], string[]]> = [
      [['agent_doesnotexist'], ['multiagent.agents.0', 'agent_doesnotexist']],
      [[foreign.id], ['multiagent.agents.0', foreign.id]],
      [[{ type: 'agent', id: plain.id, version: 9 }], ['multiagent.agents.0', 'version 9']],
      [[plain.id, retired.id], ['multiagent.agents.1', 'archived']],
      [[nested.id], ['multiagent.agents.0', 'multiagent']],
      [[plain.id, { type: 'agent', id: plain.id, version: 1 }], ['multiagent.agents.1', 'more than once']],
      [[{ type: 'self' }, { type: 'self' }], ['multiagent.agents.1', 'more than once']],
      [[{ type: 'advisor', model: 'a' }, { type: 'advisor', model: 'b' }], ['multiagent.agents.1', 'advisor']],
      [Array.from({ length: 21 }, () => ({ type: 'self' })), ['multiagent.agents', '20']],
    ];
    for (const [agents, parts] of cases) {
      await rejectsWith(client.post('/v1/agents', { body: coordinator(agents), ...BETA }), Anthropic.BadRequestError, { status: 400, parts });
    }
    assert.equal((await allAgents(client)).length, before, 'nothing was created');
  });

  it('[AGT-26] multiagent_20261001: defaults, level-by-level merge on update, replacement by type, null clears', async () => {
    const { client } = await freshWorkspace(oma());
    const helper = await client.beta.agents.create({ name: 'helper', model: 'm' });
    const agent = await client.beta.agents.create({ name: 'm2', model: 'm', multiagent: { type: 'multiagent_20261001' } });
    assert.deepEqual(agent.multiagent, { type: 'multiagent_20261001', advisor: { type: 'disabled' }, subagents: enabledDefault, workflows: enabledDefault });

    const nulls = await client.beta.agents.create({ name: 'n', model: 'm', multiagent: { type: 'multiagent_20261001', advisor: null, subagents: null, workflows: { type: 'enabled', inline_agents: null, predefined_agents: null } } });
    assert.deepEqual(nulls.multiagent, agent.multiagent);

    // Merge: only the given keys change.
    const v2 = await client.beta.agents.update(agent.id, {
      multiagent: { type: 'multiagent_20261001', subagents: { type: 'enabled', predefined_agents: [helper.id] }, advisor: { type: 'enabled', model: 'claude-opus-4-6' } },
    });
    const helperRef = { type: 'agent', id: helper.id, version: 1 };
    assert.deepEqual(v2.multiagent, {
      type: 'multiagent_20261001',
      advisor: { type: 'enabled', model: 'claude-opus-4-6' },
      subagents: { type: 'enabled', inline_agents: { type: 'enabled' }, predefined_agents: [helperRef] },
      workflows: enabledDefault,
    });
    const v3 = await client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', subagents: { type: 'enabled', inline_agents: { type: 'disabled' } } } });
    assert.deepEqual(v3.multiagent, {
      type: 'multiagent_20261001',
      advisor: { type: 'enabled', model: 'claude-opus-4-6' },
      subagents: { type: 'enabled', inline_agents: { type: 'disabled' }, predefined_agents: [helperRef] },
      workflows: enabledDefault,
    });
    // Disabled then enabled again: the replaced member takes defaults for what it omits.
    const v4 = await client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', subagents: { type: 'disabled' }, advisor: null } });
    assert.deepEqual(v4.multiagent, { type: 'multiagent_20261001', advisor: { type: 'disabled' }, subagents: { type: 'disabled' }, workflows: enabledDefault });
    const v5 = await client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', subagents: { type: 'enabled' } } });
    assert.deepEqual(v5.multiagent, { type: 'multiagent_20261001', advisor: { type: 'disabled' }, subagents: enabledDefault, workflows: enabledDefault });
    // A coordinator replaces it whole, and switching back starts from defaults.
    const v6 = await client.beta.agents.update(agent.id, { multiagent: { type: 'coordinator', agents: [helper.id] } });
    assert.deepEqual(v6.multiagent, { type: 'coordinator', agents: [helperRef] });
    const v7 = await client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', workflows: { type: 'disabled' } } });
    assert.deepEqual(v7.multiagent, { type: 'multiagent_20261001', advisor: { type: 'disabled' }, subagents: enabledDefault, workflows: { type: 'disabled' } });
    assert.deepEqual([v2, v3, v4, v5, v6, v7].map((version) => version.version), [2, 3, 4, 5, 6, 7]);
    const v8 = await client.beta.agents.update(agent.id, { multiagent: null });
    assert.equal(v8.multiagent, null);

    // Inline agents disabled with no predefined agents leaves nothing to spawn.
    await rejectsWith(
      client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', workflows: { type: 'enabled', inline_agents: { type: 'disabled' }, predefined_agents: [] } } }),
      Anthropic.BadRequestError,
      { status: 400, parts: ['multiagent.workflows', 'predefined_agents'] },
    );
    await rejectsWith(
      client.beta.agents.update(agent.id, { multiagent: { type: 'multiagent_20261001', subagents: { type: 'enabled', predefined_agents: [helper.id, helper.id] } } }),
      Anthropic.BadRequestError,
      { status: 400, parts: ['multiagent.subagents.predefined_agents.1', 'more than once'] },
    );
    assert.equal((await client.beta.agents.retrieve(agent.id)).version, 8);
  });
});
