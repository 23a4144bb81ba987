import Anthropic, { toFile } from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { createAgent, createEnvironment, createSession } from '../../src/testing/fixtures.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`sessions on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());

    const countSessions = async () => {
      let n = 0;
      for await (const _ of client.beta.sessions.list({ include_archived: true })) n++;
      return n;
    };

    it('[SES-1] a new session pins the latest agent version, starts idle, and has every field', async () => {
      const agent = await createAgent(client, { system: 'be brief' });
      const environment = await createEnvironment(client);
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: 'first', metadata: { team: 'a' } });
      assert.match(session.id, /^sesn_/);
      assert.equal(session.type, 'session');
      assert.equal(session.status, 'idle');
      assert.equal(session.environment_id, environment.id);
      assert.equal(session.title, 'first');
      assert.deepEqual(session.metadata, { team: 'a' });
      assert.equal(session.agent.id, agent.id);
      assert.equal(session.agent.version, agent.version);
      assert.equal(session.agent.type, 'agent');
      assert.equal(session.agent.name, agent.name);
      assert.equal(session.agent.system, 'be brief');
      assert.deepEqual(session.agent.model, agent.model);
      assert.deepEqual(session.agent.tools, agent.tools);
      assert.equal(session.agent.multiagent, null);
      assert.deepEqual(session.resources, []);
      assert.deepEqual(session.vault_ids, []);
      assert.deepEqual(session.outcome_evaluations, []);
      assert.equal(session.budget, null);
      assert.equal(session.archived_at, null);
      assert.equal(session.deployment_id, null);
      assert.equal(session.usage.input_tokens, 0);
      assert.equal(session.usage.output_tokens, 0);
      assert.equal(session.usage.cache_read_input_tokens, 0);
      assert.equal(session.stats.active_seconds, 0);
      assert.ok(typeof session.stats.duration_seconds === 'number');
      assert.ok(Date.parse(session.created_at) > 0 && Date.parse(session.updated_at) > 0);
      const { stats: _created, ...created } = session;
      const { stats: _retrieved, ...retrieved } = await client.beta.sessions.retrieve(session.id);
      assert.deepEqual(retrieved, created, 'retrieve returns what create did');
    });

    it('[SES-2] a pinned version stays pinned when the agent changes', async () => {
      const agent = await createAgent(client, { system: 'v1' });
      const environment = await createEnvironment(client);
      await client.beta.agents.update(agent.id, { version: agent.version, system: 'v2' });
      const latest = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      const pinned = await client.beta.sessions.create({ agent: { type: 'agent', id: agent.id, version: 1 }, environment_id: environment.id });
      assert.equal(latest.agent.version, 2);
      assert.equal(latest.agent.system, 'v2');
      assert.equal(pinned.agent.version, 1);
      assert.equal(pinned.agent.system, 'v1');
      await client.beta.agents.update(agent.id, { version: 2, system: 'v3' });
      assert.equal((await client.beta.sessions.retrieve(latest.id)).agent.system, 'v2', 'a session keeps its snapshot');
    });

    it('[SES-3] unknown or archived agents and environments are refused, and nothing is created', async () => {
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      const before = await countSessions();
      await assert.rejects(client.beta.sessions.create({ agent: 'agent_nope', environment_id: environment.id }), Anthropic.NotFoundError);
      await assert.rejects(client.beta.sessions.create({ agent: { type: 'agent', id: agent.id, version: 9 }, environment_id: environment.id }), Anthropic.NotFoundError);
      await assert.rejects(client.beta.sessions.create({ agent: agent.id, environment_id: 'env_nope' }), Anthropic.NotFoundError);
      const archivedEnvironment = await createEnvironment(client);
      await client.beta.environments.archive(archivedEnvironment.id);
      await assert.rejects(client.beta.sessions.create({ agent: agent.id, environment_id: archivedEnvironment.id }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.match(error.message, /archived/);
        return true;
      });
      const archivedAgent = await createAgent(client);
      await client.beta.agents.archive(archivedAgent.id);
      await assert.rejects(client.beta.sessions.create({ agent: archivedAgent.id, environment_id: environment.id }), Anthropic.BadRequestError);
      assert.equal(await countSessions(), before);
    });

    it('[SES-11] bad bodies are 400s naming the field, and nothing is created', async () => {
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      const before = await countSessions();
      for (const [body, field] of [
        [{ agent: agent.id }, 'environment_id'],
        [{ agent: agent.id, environment_id: environment.id, colour: 'red' }, 'colour'],
        [{ agent: agent.id, environment_id: environment.id, title: 7 }, 'title'],
        [{ agent: agent.id, environment_id: environment.id, metadata: { k: 'v'.repeat(513) } }, 'metadata'],
        [{ agent: agent.id, environment_id: environment.id, vault_ids: ['nope'] }, 'vault_ids'],
        [{ agent: agent.id, environment_id: environment.id, budget: { type: 'limit', max_list_cost: { amount: '1.5', currency: 'USD' } } }, 'amount'],
        [{ agent: agent.id, environment_id: environment.id, resources: [{ type: 'floppy' }] }, 'resources'],
      ] as const) {
        await assert.rejects(client.beta.sessions.create(body as never), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, `${JSON.stringify(body)}: ${String(error)}`);
          assert.ok(error.message.includes(field), `${error.message} names ${field}`);
          return true;
        });
      }
      assert.equal(await countSessions(), before);
    });

    it('[SES-4] lists filter, order and page both ways', async () => {
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: `s${i}` }));
      const mine = (await client.beta.sessions.list({ agent_id: agent.id, limit: 100 })).data.map((s) => s.title);
      assert.deepEqual(mine, ['s4', 's3', 's2', 's1', 's0'], 'newest first by default');
      const ascending = (await client.beta.sessions.list({ agent_id: agent.id, order: 'asc', limit: 100 })).data.map((s) => s.title);
      assert.deepEqual(ascending, ['s0', 's1', 's2', 's3', 's4']);
      const paged: string[] = [];
      for await (const session of client.beta.sessions.list({ agent_id: agent.id, limit: 2 })) paged.push(session.title!);
      assert.deepEqual(paged, mine, 'for-await follows next_page across pages');
      const first = await client.beta.sessions.list({ agent_id: agent.id, limit: 2 });
      assert.equal(first.prev_page, null);
      const second = await client.beta.sessions.list({ agent_id: agent.id, limit: 2, page: first.next_page! });
      assert.deepEqual(second.data.map((s) => s.title), ['s2', 's1']);
      const back = await client.beta.sessions.list({ agent_id: agent.id, limit: 2, page: second.prev_page! });
      assert.deepEqual(back.data.map((s) => s.title), ['s4', 's3'], 'prev_page walks back');
      await assert.rejects(client.beta.sessions.list({ agent_id: agent.id, page: first.next_page!, order: 'asc' }), Anthropic.BadRequestError);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, agent_version: 1 })).data.length, 5);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, agent_version: 2 })).data.length, 0);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, statuses: ['terminated'] })).data.length, 0);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, statuses: ['idle', 'terminated'] })).data.length, 5);
      const middle = made[2]!.created_at;
      assert.deepEqual((await client.beta.sessions.list({ agent_id: agent.id, 'created_at[gte]': middle, order: 'asc' })).data.map((s) => s.title), ['s2', 's3', 's4']);
      assert.deepEqual((await client.beta.sessions.list({ agent_id: agent.id, 'created_at[lt]': middle, order: 'asc' })).data.map((s) => s.title), ['s0', 's1']);
      await client.beta.sessions.archive(made[0]!.id);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id })).data.length, 4, 'archived sessions are hidden');
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, include_archived: true })).data.length, 5);
      await assert.rejects(client.beta.sessions.list({ statuses: ['sleeping' as never] }), Anthropic.BadRequestError);
    });

    it('[SES-5] updates patch, record session.updated with only what changed, and refuse what cannot change', async () => {
      const { session } = await createSession(client, { title: 'before', metadata: { keep: '1', drop: '2' } });
      const updated = await client.beta.sessions.update(session.id, { title: 'after', metadata: { drop: null, add: '3' } });
      assert.equal(updated.title, 'after');
      assert.deepEqual(updated.metadata, { keep: '1', add: '3' });
      const events = (await client.beta.sessions.events.list(session.id)).data;
      const changes = events.filter((event) => event.type === 'session.updated');
      assert.equal(changes.length, 1);
      assert.deepEqual({ ...changes[0], id: undefined, processed_at: undefined }, { type: 'session.updated', title: 'after', metadata: { keep: '1', add: '3' }, id: undefined, processed_at: undefined });
      await client.beta.sessions.update(session.id, { title: 'after' });
      assert.equal((await client.beta.sessions.events.list(session.id)).data.filter((event) => event.type === 'session.updated').length, 1, 'a no-op update records nothing');
      await assert.rejects(client.beta.sessions.update(session.id, { vault_ids: ['vlt_x'] } as never), Anthropic.BadRequestError);
      await assert.rejects(client.beta.sessions.update(session.id, { budget: { type: 'limit', max_list_cost: { amount: '100', currency: 'USD' } } }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError);
        assert.equal(error.errorCode, 'budget_create_only');
        return true;
      });
    });

    it('[SES-6] archiving terminates, records it, and makes the session read-only', async () => {
      const { session, agent } = await createSession(client);
      const archived = await client.beta.sessions.archive(session.id);
      assert.equal(archived.status, 'terminated');
      assert.ok(archived.archived_at);
      const events = (await client.beta.sessions.events.list(session.id)).data;
      assert.deepEqual(events.map((event) => event.type), ['session.status_terminated']);
      let calls = 0;
      const counting = new Anthropic({ baseURL: oma.url, apiKey: client.apiKey!, maxRetries: 2, fetch: async (url, init) => (calls++, fetch(url, init)) });
      await assert.rejects(counting.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }] }), Anthropic.ConflictError);
      assert.equal(calls, 1, 'the SDK did not retry the 409');
      await assert.rejects(client.beta.sessions.update(session.id, { title: 'x' }), Anthropic.ConflictError);
      assert.equal((await client.beta.sessions.events.list(session.id)).data.length, 1, 'nothing appended');
      assert.equal((await client.beta.sessions.archive(session.id)).archived_at, archived.archived_at, 'archiving twice is a no-op');
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id })).data.length, 0);
    });

    it('[SES-7] deleting removes the session and its events', async () => {
      const { session } = await createSession(client);
      await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }] });
      assert.deepEqual(await client.beta.sessions.delete(session.id), { id: session.id, type: 'session_deleted' });
      await assert.rejects(client.beta.sessions.retrieve(session.id), Anthropic.NotFoundError);
      await assert.rejects(client.beta.sessions.events.list(session.id), Anthropic.NotFoundError);
      await assert.rejects(client.beta.sessions.delete(session.id), Anthropic.NotFoundError);
      const { rows } = await oma.db.query('SELECT count(*)::int AS n FROM events WHERE session_id = $1', [session.id]);
      assert.equal(rows[0]!.n, 0);
    });

    it("[SES-8] another workspace's session is a 404 everywhere", async () => {
      const { session } = await createSession(client);
      const { key } = await createKey(oma.db, { workspace: `other-${storage}` });
      const other = new Anthropic({ baseURL: oma.url, apiKey: key, maxRetries: 0 });
      const attempts = [
        () => other.beta.sessions.retrieve(session.id),
        () => other.beta.sessions.update(session.id, { title: 'x' }),
        () => other.beta.sessions.archive(session.id),
        () => other.beta.sessions.delete(session.id),
        () => other.beta.sessions.events.list(session.id),
        () => other.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] }),
        () => other.beta.sessions.events.stream(session.id),
        () => other.beta.sessions.resources.list(session.id),
      ];
      for (const attempt of attempts) await assert.rejects(attempt(), Anthropic.NotFoundError);
      assert.equal((await other.beta.sessions.list()).data.length, 0);
      assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle', 'untouched');
    });

    it('[SES-9] resources: files and repositories, and the token never comes back', async () => {
      const uploaded = await client.beta.files.upload({ file: await toFile(Buffer.from('data'), 'data.csv', { type: 'text/csv' }) });
      const { session } = await createSession(client, {
        resources: [
          { type: 'file', file_id: uploaded.id },
          { type: 'github_repository', url: 'https://github.com/acme/widgets.git', authorization_token: 'ghp_canary_token_123', checkout: { type: 'branch', name: 'main' } },
        ],
      });
      assert.equal(session.resources.length, 2);
      const [file, repo] = session.resources as [Anthropic.Beta.Sessions.BetaManagedAgentsFileResource, Anthropic.Beta.Sessions.BetaManagedAgentsGitHubRepositoryResource];
      assert.equal(file.type, 'file');
      assert.equal(file.file_id, uploaded.id);
      assert.equal(file.mount_path, `/mnt/session/uploads/${uploaded.id}`);
      assert.equal(repo.mount_path, '/workspace/widgets');
      assert.deepEqual(repo.checkout, { type: 'branch', name: 'main' });
      assert.ok(!JSON.stringify(session).includes('ghp_canary'), 'the token is write-only');
      const listed = [];
      for await (const resource of client.beta.sessions.resources.list(session.id)) listed.push(resource);
      assert.deepEqual(listed, session.resources);
      const rotated = await client.beta.sessions.resources.update(repo.id, { session_id: session.id, authorization_token: 'ghp_canary_rotated' });
      assert.ok(!JSON.stringify(rotated).includes('ghp_canary'));
      await assert.rejects(client.beta.sessions.resources.update(file.id, { session_id: session.id, authorization_token: 'x' }), Anthropic.BadRequestError);
      const added = await client.beta.sessions.resources.add(session.id, { type: 'file', file_id: uploaded.id, mount_path: '/mnt/extra/data.csv' });
      assert.equal(added.mount_path, '/mnt/extra/data.csv');
      assert.deepEqual(await client.beta.sessions.resources.retrieve(added.id, { session_id: session.id }), added);
      assert.deepEqual(await client.beta.sessions.resources.delete(added.id, { session_id: session.id }), { id: added.id, type: 'session_resource_deleted' });
      await assert.rejects(client.beta.sessions.resources.retrieve(added.id, { session_id: session.id }), Anthropic.NotFoundError);
      await assert.rejects(client.beta.sessions.resources.add(session.id, { type: 'file', file_id: 'file_missing' }), Anthropic.BadRequestError);
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      await assert.rejects(
        client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, resources: [{ type: 'file', file_id: 'file_missing' }] }),
        (error: unknown) => error instanceof Anthropic.BadRequestError && error.message.includes('resources.0.file_id'),
      );
    });

    it('[SES-13] overrides change the session\'s copy of the agent only', async () => {
      const agent = await createAgent(client, { system: 'original', model: { id: 'claude-sonnet-4-6', effort: 'low' } });
      const environment = await createEnvironment(client);
      const session = await client.beta.sessions.create({
        environment_id: environment.id,
        agent: {
          type: 'agent_with_overrides',
          id: agent.id,
          system: 'overridden',
          model: { id: 'claude-opus-4-6', effort: 'max', inference_geo: 'us' },
          tools: [{ type: 'custom', name: 'lookup', description: 'find things', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
          skills: [{ type: 'anthropic', skill_id: 'xlsx' }],
        },
      });
      assert.equal(session.agent.system, 'overridden');
      assert.deepEqual(session.agent.model, { id: 'claude-opus-4-6', effort: { type: 'low' }, inference_geo: 'us', speed: 'standard' }, 'effort comes from the agent');
      assert.deepEqual(session.agent.tools.map((tool) => tool.type), ['custom']);
      assert.deepEqual(session.agent.skills, [{ type: 'anthropic', skill_id: 'xlsx', version: 'latest' }]);
      assert.equal((await client.beta.agents.retrieve(agent.id)).system, 'original', 'the agent itself is untouched');
      await assert.rejects(
        client.beta.sessions.create({ environment_id: environment.id, agent: { type: 'agent_with_overrides', id: agent.id, tools: [{ type: 'mcp_toolset', mcp_server_name: 'nowhere' }] } }),
        Anthropic.BadRequestError,
      );
    });

    it('[SES-14] a session\'s tools can be replaced while it is idle', async () => {
      const { session } = await createSession(client);
      const updated = await client.beta.sessions.update(session.id, {
        agent: {
          mcp_servers: [{ type: 'url', name: 'docs', url: 'https://mcp.example.com/mcp' }],
          tools: [{ type: 'mcp_toolset', mcp_server_name: 'docs' }],
        },
      });
      assert.deepEqual(updated.agent.mcp_servers, [{ type: 'url', name: 'docs', url: 'https://mcp.example.com/mcp' }]);
      assert.equal(updated.agent.tools[0]!.type, 'mcp_toolset');
      const change = (await client.beta.sessions.events.list(session.id, { types: ['session.updated'] })).data[0] as unknown as { agent: unknown };
      assert.deepEqual(change.agent, updated.agent);
      await assert.rejects(client.beta.sessions.update(session.id, { agent: { mcp_servers: [] } }), Anthropic.BadRequestError, 'the toolset would name a missing server');
      await oma.db.query("UPDATE sessions SET status = 'running' WHERE id = $1", [session.id]);
      await assert.rejects(client.beta.sessions.update(session.id, { agent: { tools: [] } }), (error: unknown) => error instanceof Anthropic.BadRequestError && /running/.test(error.message));
      await oma.db.query("UPDATE sessions SET status = 'idle' WHERE id = $1", [session.id]);
    });

    it('[SES-10] initial events are appended at creation and wake the brain; bad ones create nothing', async () => {
      const { session } = await createSession(client, {
        initial_events: [
          { type: 'user.message', content: [{ type: 'text', text: 'start here' }] },
          { type: 'user.define_outcome', description: 'a report', rubric: { type: 'text', content: 'has a title' } },
        ],
      });
      const events = (await client.beta.sessions.events.list(session.id)).data;
      assert.deepEqual(events.map((event) => event.type), ['user.message', 'user.define_outcome']);
      assert.equal(events[0]!.processed_at, null);
      const { rows } = await oma.db.query('SELECT session_id FROM session_wakes WHERE session_id = $1', [session.id]);
      assert.equal(rows.length, 1, 'a wake is queued for the brain');
      assert.equal((await client.beta.sessions.retrieve(session.id)).outcome_evaluations.length, 1);
      const agent = await createAgent(client);
      const environment = await createEnvironment(client);
      const before = await countSessions();
      for (const initial_events of [[{ type: 'user.interrupt' }], [{ type: 'user.message', content: [] }], [{ type: 'user.message', content: [{ type: 'text', text: 'ok' }] }, { type: 'nope' }]]) {
        await assert.rejects(client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, initial_events: initial_events as never }), Anthropic.BadRequestError);
      }
      assert.equal(await countSessions(), before);
    });
  });
}
