import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BETA, describeOnStorages, freshWorkspace, rejectsWith, sleep } from './support.ts';

/** `GET /v1/agents`: PageCursor pagination, order, filters. */

describeOnStorages('agents: list', (oma) => {
  it('[AGT-17] newest first, the latest version of each, across pages with for-await and by hand', async () => {
    const workspace = await freshWorkspace(oma());
    const { client } = workspace;
    const created = [];
    for (let index = 0; index < 5; index++) created.push(await client.beta.agents.create({ name: `agent-${index}`, model: 'm' }));
    const updated = await client.beta.agents.update(created[1]!.id, { name: 'agent-1-v2' });
    const newestFirst = [...created].reverse().map((agent) => (agent.id === updated.id ? updated : agent));

    const before = workspace.requests();
    const seen = [];
    for await (const agent of client.beta.agents.list({ limit: 2 })) seen.push({ ...agent });
    assert.deepEqual(seen, newestFirst.map((agent) => ({ ...agent })));
    assert.equal(workspace.requests() - before, 3, 'three pages of 2, 2 and 1');

    const first = await client.beta.agents.list({ limit: 2 });
    assert.deepEqual(first.data.map((agent) => agent.name), ['agent-4', 'agent-3']);
    assert.equal(first.hasNextPage(), true);
    const second = await client.beta.agents.list({ limit: 2, page: first.next_page });
    assert.deepEqual(second.data.map((agent) => agent.name), ['agent-2', 'agent-1-v2']);
    const third = await second.getNextPage();
    assert.deepEqual(third.data.map((agent) => agent.name), ['agent-0']);
    assert.equal(third.next_page, null);

    // The raw body is exactly {data, next_page}.
    const raw = await client.get<Record<string, unknown>>('/v1/agents?limit=5', BETA);
    assert.deepEqual(Object.keys(raw).sort(), ['data', 'next_page']);
    assert.equal(raw.next_page, null);
    // page= (empty) is the first page.
    assert.equal((await client.beta.agents.list({ limit: 1, page: null })).data[0]?.name, 'agent-4');
    await rejectsWith(client.beta.agents.list({ page: 'not-a-cursor' }), Anthropic.BadRequestError, { status: 400, parts: ['page'] });
  });

  it('[AGT-17] limit defaults to 20 and accepts 1000; 0 or 1001 is a 400', async () => {
    const { client } = await freshWorkspace(oma());
    for (let index = 0; index < 21; index++) await client.beta.agents.create({ name: `n${index}`, model: 'm' });
    const first = await client.beta.agents.list();
    assert.equal(first.data.length, 20);
    assert.equal(first.data[0]?.name, 'n20');
    assert.equal(typeof first.next_page, 'string');
    const rest = await first.getNextPage();
    assert.deepEqual(rest.data.map((agent) => agent.name), ['n0']);
    assert.equal((await client.beta.agents.list({ limit: 1000 })).data.length, 21);
    await rejectsWith(client.beta.agents.list({ limit: 1001 }), Anthropic.BadRequestError, { status: 400, parts: ['limit'] });
    await rejectsWith(client.beta.agents.list({ limit: 0 }), Anthropic.BadRequestError, { status: 400, parts: ['limit'] });
  });

  it('[AGT-18] archived agents are hidden unless include_archived=true', async () => {
    const { client } = await freshWorkspace(oma());
    const kept = await client.beta.agents.create({ name: 'kept', model: 'm' });
    const gone = await client.beta.agents.create({ name: 'gone', model: 'm' });
    const archived = await client.beta.agents.archive(gone.id);
    assert.deepEqual((await client.beta.agents.list()).data.map((agent) => agent.id), [kept.id]);
    assert.deepEqual((await client.beta.agents.list({ include_archived: false })).data.map((agent) => agent.id), [kept.id]);
    const all = await client.beta.agents.list({ include_archived: true });
    assert.deepEqual(all.data.map((agent) => ({ ...agent })), [{ ...archived }, { ...kept }]);
    await rejectsWith(client.get('/v1/agents?include_archived=yes', BETA), Anthropic.BadRequestError, { status: 400, parts: ['include_archived'] });
  });

  it('[AGT-18] created_at[gte] and created_at[lte] filter inclusively', async () => {
    const { client } = await freshWorkspace(oma());
    const agents = [];
    for (let index = 0; index < 4; index++) {
      agents.push(await client.beta.agents.create({ name: `t${index}`, model: 'm' }));
      await sleep(5);
    }
    const names = async (params: Anthropic.Beta.Agents.AgentListParams) => (await client.beta.agents.list(params)).data.map((agent) => agent.name);
    assert.deepEqual(await names({ 'created_at[gte]': agents[1]!.created_at }), ['t3', 't2', 't1']);
    assert.deepEqual(await names({ 'created_at[lte]': agents[1]!.created_at }), ['t1', 't0']);
    assert.deepEqual(await names({ 'created_at[gte]': agents[1]!.created_at, 'created_at[lte]': agents[2]!.created_at }), ['t2', 't1']);
    // Filters combine with pagination.
    const page = await client.beta.agents.list({ 'created_at[gte]': agents[1]!.created_at, limit: 2 });
    assert.deepEqual((await page.getNextPage()).data.map((agent) => agent.name), ['t1']);
    await rejectsWith(client.beta.agents.list({ 'created_at[gte]': 'yesterday' }), Anthropic.BadRequestError, { status: 400, parts: ['created_at[gte]'] });
  });
});
