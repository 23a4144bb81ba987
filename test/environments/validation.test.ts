import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureWorkspace } from '../../src/auth/keys.ts';
import { getEnvironment } from '../../src/environments/store.ts';
import { isOmaError } from '../../src/errors.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

/** Environments: what is refused (400s that write nothing), and the store functions other areas use. */

const name = 'valid-name';
const cloud = (config: Record<string, unknown>) => ({ name, config: { type: 'cloud', ...config } });
const limited = (networking: Record<string, unknown>, rest: Record<string, unknown> = {}) =>
  cloud({ networking: { type: 'limited', ...networking }, ...rest });

/** [body, text the error message must contain (the field it names)]. */
const INVALID_CREATES: [unknown, string][] = [
  [{}, 'name'],
  [{ name: '' }, 'name'],
  [{ name: '   ' }, 'name'],
  [{ name: 'x'.repeat(257) }, 'name'],
  [{ name: 42 }, 'name'],
  [{ name: null }, 'name'],
  [{ name, colour: 'blue' }, 'colour'],
  [{ name, description: 'x'.repeat(2049) }, 'description'],
  [{ name, description: 5 }, 'description'],
  [{ name, scope: 'account' }, 'scope'],
  [{ name, scope: 'galaxy' }, 'scope'],
  [{ name, metadata: 'x' }, 'metadata'],
  [{ name, metadata: { key: 5 } }, 'metadata'],
  [{ name, config: 'cloud' }, 'config'],
  [{ name, config: {} }, 'config.type'],
  [{ name, config: { type: 'docker' } }, 'config.type'],
  [{ name, config: { type: 'self_hosted', networking: { type: 'unrestricted' } } }, 'networking'],
  [{ name, config: { type: 'self_hosted', packages: {} } }, 'packages'],
  [cloud({ colour: 'blue' }), 'colour'],
  [cloud({ networking: { type: 'firewalled' } }), 'networking.type'],
  [cloud({ networking: { type: 'unrestricted', allowed_hosts: [] } }), 'allowed_hosts'],
  [cloud({ packages: { pip: 'numpy' } }), 'config.packages.pip'],
  [cloud({ packages: { pip: [1] } }), 'config.packages.pip.0'],
  [cloud({ packages: { pip: [null] } }), 'config.packages.pip.0'],
  [cloud({ packages: { npm: [''] } }), 'config.packages.npm.0'],
  [cloud({ packages: { pip: ['--index-url=https://evil.example.com'] } }), 'config.packages.pip.0'],
  [cloud({ packages: { apt: ['curl wget'] } }), 'config.packages.apt.0'],
  [cloud({ packages: { apt: ['curl\n'] } }), 'config.packages.apt.0'],
  [cloud({ packages: { brew: ['wget'] } }), 'brew'],
  [cloud({ packages: { type: 'pkgs' } }), 'config.packages.type'],
  [limited({ allowed_hosts: ['https://api.example.com/v1'] }), 'config.networking.allowed_hosts.0'],
  [limited({ allowed_hosts: [''] }), 'config.networking.allowed_hosts.0'],
  [limited({ allowed_hosts: 'api.example.com' }), 'config.networking.allowed_hosts'],
  [limited({ allow_package_managers: 'yes' }), 'config.networking.allow_package_managers'],
  [limited({ allow_mcp_servers: 1 }), 'config.networking.allow_mcp_servers'],
  [limited({ allowed_hosts: ['pypi.org'] }, { packages: { pip: ['numpy'] } }), 'allow_package_managers'],
  [limited({ allow_package_managers: false }, { packages: { apt: ['git'] } }), 'allow_package_managers'],
  [limited({ allow_package_managers: null }, { packages: { cargo: ['serde'] } }), 'allow_package_managers'],
];

const INVALID_UPDATES: [unknown, string][] = [
  [{ name: '' }, 'name'],
  [{ name: 'x'.repeat(257) }, 'name'],
  [{ colour: 'blue' }, 'colour'],
  [{ scope: 'account' }, 'scope'],
  [{ description: 'x'.repeat(2049) }, 'description'],
  [{ metadata: { key: 5 } }, 'metadata'],
  [{ config: { type: 'docker' } }, 'config.type'],
  [{ config: { type: 'cloud', packages: { pip: [1] } } }, 'config.packages.pip.0'],
  [{ config: { type: 'cloud', networking: { type: 'limited' }, packages: { pip: ['numpy'] } } }, 'allow_package_managers'],
];

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());

    const rowCount = async () => (await oma.db.query<{ count: number }>('SELECT count(*)::int AS count FROM environments')).rows[0]!.count;

    it('[ENV-16] invalid create bodies are 400s naming the field, and nothing is written', async () => {
      const before = await rowCount();
      for (const [body, field] of INVALID_CREATES) {
        await assert.rejects(client.beta.environments.create(body as never), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, `${JSON.stringify(body)}: ${String(error)}`);
          assert.equal(error.type, 'invalid_request_error');
          assert.ok(error.apiMessage?.includes(field), `${JSON.stringify(body).slice(0, 200)}: "${error.apiMessage}" names ${field}`);
          return true;
        });
      }
      assert.equal(await rowCount(), before);
      const listed = await client.beta.environments.list({ include_archived: true });
      assert.equal(listed.data.length, before);
    });

    it('[ENV-16] the accepted edges of the same rules', async () => {
      const accepted = [
        { name: 'x'.repeat(256), description: 'd'.repeat(2048), scope: 'organization' as const },
        { ...limited({ allow_package_managers: true }, { packages: { pip: ['numpy>=2'] } }), name: 'limited-with-managers' },
        { ...limited({}, { packages: { pip: [], apt: null } }), name: 'limited-empty-packages' },
        { name: 'scope-null', scope: null },
      ];
      for (const body of accepted) {
        const created = await client.beta.environments.create(body as never);
        assert.equal(created.name, body.name);
        assert.equal(created.scope, 'organization');
      }
    });

    it('[ENV-16] invalid update bodies are 400s naming the field, and nothing is written', async () => {
      const stored = await client.beta.environments.create({ name: 'update-target', description: 'as created', metadata: { a: '1' } });
      for (const [body, field] of INVALID_UPDATES) {
        await assert.rejects(client.beta.environments.update(stored.id, body as never), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, `${JSON.stringify(body)}: ${String(error)}`);
          assert.ok(error.apiMessage?.includes(field), `${JSON.stringify(body).slice(0, 200)}: "${error.apiMessage}" names ${field}`);
          return true;
        });
      }
      assert.deepEqual(await client.beta.environments.retrieve(stored.id), stored);
    });

    it('[ENV-14] delete is refused with 409 environment_in_use while a live session references the environment', async () => {
      const environment = await client.beta.environments.create({ name: 'in-use' });
      const agent = await client.beta.agents.create({ name: 'user of in-use', model: 'claude-sonnet-4-6' });
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      let calls = 0;
      const counting = new Anthropic({ baseURL: oma.url, apiKey: client.apiKey!, maxRetries: 2, fetch: async (url, init) => (calls++, fetch(url, init)) });
      await assert.rejects(counting.beta.environments.delete(environment.id), (error: unknown) => {
        assert.ok(error instanceof Anthropic.ConflictError, String(error));
        assert.equal(error.errorCode, 'environment_in_use');
        return true;
      });
      assert.equal(calls, 1, 'the SDK did not retry the 409');
      assert.deepEqual(await client.beta.environments.retrieve(environment.id), environment, 'not deleted');
      await client.beta.sessions.archive(session.id); // terminated: no longer holds the environment
      assert.deepEqual(await client.beta.environments.delete(environment.id), { type: 'environment_deleted', id: environment.id });
    });

    it("[ENV-19] getEnvironment returns the API's object and hides other workspaces' environments", async () => {
      const workspace = await ensureWorkspace(oma.db, 'default');
      const other = await ensureWorkspace(oma.db, 'someone-else');
      const environment = await client.beta.environments.create({
        name: 'for-sessions',
        config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['example.com'] } },
      });
      await client.beta.environments.archive(environment.id);
      const fromStore = await getEnvironment(oma.db, workspace.id, environment.id);
      assert.deepEqual(fromStore, { ...(await client.beta.environments.retrieve(environment.id)) });
      assert.notEqual(fromStore.archived_at, null, 'session create rejects archived environments by this field');
      for (const [workspaceId, id] of [
        [other.id, environment.id],
        [workspace.id, 'env_doesnotexist'],
      ] as const) {
        await assert.rejects(getEnvironment(oma.db, workspaceId, id), (error: unknown) => {
          assert.ok(isOmaError(error, 'not_found'), String(error));
          assert.equal(error.details?.error_code, 'environment_not_found');
          return true;
        });
      }
    });
  });
}
