import Anthropic from '@anthropic-ai/sdk';
import {
  BetaEnvironmentArchivedError,
  BetaEnvironmentNotFoundError,
  BetaInvalidConfigTypeChangeError,
  BetaInvalidMetadataError,
  type BetaEnvironment,
} from '@anthropic-ai/sdk/resources/beta/environments/environments';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

/** Environments create / retrieve / update / archive / delete through the official SDK (spec §3). */

const EMPTY_PACKAGES = { type: 'packages', apt: [], cargo: [], gem: [], go: [], npm: [], pip: [] };
const DEFAULT_CONFIG = { type: 'cloud', networking: { type: 'unrestricted' }, packages: EMPTY_PACKAGES };
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let counter = 0;
const uniqueName = (label: string) => `${label}-${++counter}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());

    /** The stored environment, straight from the API, to check that a failed call wrote nothing. */
    const retrieve = (id: string) => client.beta.environments.retrieve(id);

    it('[ENV-1] create with only a name: the default cloud config and every field present', async () => {
      const name = uniqueName('plain');
      const created = await client.beta.environments.create({ name });
      assert.match(created.id, /^env_[1-9A-HJ-NP-Za-km-z]{22}$/);
      assert.match(created.created_at, RFC3339_MS);
      assert.deepEqual(created, {
        type: 'environment',
        id: created.id,
        name,
        description: null,
        config: DEFAULT_CONFIG,
        metadata: {},
        scope: 'organization',
        created_at: created.created_at,
        updated_at: created.created_at,
        archived_at: null,
      });
      // The wire itself carries the null fields (the SDK passes JSON through untouched).
      const response = await client.beta.environments.retrieve(created.id).asResponse();
      const raw = (await response.json()) as Record<string, unknown>;
      assert.ok('description' in raw && raw.description === null);
      assert.ok('archived_at' in raw && raw.archived_at === null);
    });

    it('[ENV-2] cloud, unrestricted with packages: round-trips, omitted managers are []', async () => {
      const created = await client.beta.environments.create({
        name: uniqueName('data'),
        description: 'pandas and friends',
        config: { type: 'cloud', networking: { type: 'unrestricted' }, packages: { pip: ['pandas==2.2.0', 'numpy'], apt: ['ffmpeg'] } },
        metadata: { team: 'research' },
      });
      const expected = {
        type: 'cloud',
        networking: { type: 'unrestricted' },
        packages: { ...EMPTY_PACKAGES, pip: ['pandas==2.2.0', 'numpy'], apt: ['ffmpeg'] },
      };
      assert.deepEqual(created.config, expected);
      assert.equal(created.description, 'pandas and friends');
      assert.deepEqual(created.metadata, { team: 'research' });
      assert.deepEqual(await retrieve(created.id), created);
    });

    it('[ENV-2] cloud, limited networking: given fields kept, omitted flags false, omitted hosts []', async () => {
      const full = await client.beta.environments.create({
        name: uniqueName('limited'),
        config: {
          type: 'cloud',
          networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org:8443'], allow_package_managers: true, allow_mcp_servers: true },
          packages: { npm: ['typescript@5'], type: 'packages' },
        },
      });
      assert.deepEqual(full.config, {
        type: 'cloud',
        networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org:8443'], allow_package_managers: true, allow_mcp_servers: true },
        packages: { ...EMPTY_PACKAGES, npm: ['typescript@5'] },
      });
      assert.deepEqual(await retrieve(full.id), full);

      const bare = await client.beta.environments.create({ name: uniqueName('limited-bare'), config: { type: 'cloud', networking: { type: 'limited' } } });
      assert.deepEqual(bare.config, {
        type: 'cloud',
        networking: { type: 'limited', allowed_hosts: [], allow_package_managers: false, allow_mcp_servers: false },
        packages: EMPTY_PACKAGES,
      });
      const nulls = await client.beta.environments.create({
        name: uniqueName('limited-nulls'),
        config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: null, allow_mcp_servers: null }, packages: null },
      });
      assert.deepEqual(nulls.config, bare.config);
    });

    it('[ENV-2] self_hosted and null config round-trip', async () => {
      const selfHosted = await client.beta.environments.create({ name: uniqueName('self'), config: { type: 'self_hosted' } });
      assert.deepEqual(selfHosted.config, { type: 'self_hosted' });
      assert.deepEqual(await retrieve(selfHosted.id), selfHosted);
      const nullConfig = await client.beta.environments.create({ name: uniqueName('null-config'), config: null, description: '' });
      assert.deepEqual(nullConfig.config, DEFAULT_CONFIG);
      assert.equal(nullConfig.description, '');
    });

    it('[ENV-3] retrieve returns exactly what create returned', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('fetch'), metadata: { a: '1' } });
      const fetched = await retrieve(created.id);
      assert.deepEqual(fetched, created);
      assert.match(fetched._request_id ?? '', /^req_/);
    });

    it('[ENV-17] an unknown id is a 404 BetaEnvironmentNotFoundError (errorCode environment_not_found) on every route', async () => {
      const missing = 'env_011CZkZ9X2dpNyB7HsEFoRfW';
      const calls = [
        () => client.beta.environments.retrieve(missing),
        () => client.beta.environments.update(missing, { name: 'x' }),
        () => client.beta.environments.archive(missing),
        () => client.beta.environments.delete(missing),
      ];
      for (const call of calls) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof BetaEnvironmentNotFoundError, String(error));
          assert.equal(error.status, 404);
          assert.equal(error.errorCode, 'environment_not_found');
          assert.equal(error.type, 'not_found_error');
          return true;
        });
      }
    });

    it('[ENV-4] update: omitted fields keep, name null keeps, description null clears and "" is stored', async () => {
      const created = await client.beta.environments.create({
        name: uniqueName('keep'),
        description: 'first',
        config: { type: 'cloud', packages: { pip: ['requests'] } },
        metadata: { owner: 'ana' },
      });
      const renamed = await client.beta.environments.update(created.id, { name: `${created.name}-renamed` });
      assert.deepEqual({ ...renamed, updated_at: created.updated_at }, { ...created, name: `${created.name}-renamed` });
      const kept = await client.beta.environments.update(created.id, { name: null, description: 'second' });
      assert.equal(kept.name, `${created.name}-renamed`);
      assert.equal(kept.description, 'second');
      assert.equal((await client.beta.environments.update(created.id, { description: '' })).description, '');
      const cleared = await client.beta.environments.update(created.id, { description: null, config: null });
      assert.equal(cleared.description, null);
      assert.deepEqual(cleared.config, created.config);
      assert.deepEqual(cleared.metadata, created.metadata);
      assert.deepEqual(await retrieve(created.id), cleared);
    });

    it('[ENV-5] update config: cloud sub-fields merge, omitted keeps, null resets to the default', async () => {
      const created = await client.beta.environments.create({
        name: uniqueName('merge'),
        config: {
          type: 'cloud',
          networking: { type: 'limited', allowed_hosts: ['a.example.com'], allow_package_managers: true, allow_mcp_servers: false },
          packages: { pip: ['numpy'], npm: ['left-pad'] },
        },
      });
      // Only packages.pip given: networking and the other managers keep.
      const pipOnly = await client.beta.environments.update(created.id, { config: { type: 'cloud', packages: { pip: ['scipy'] } } });
      assert.deepEqual(pipOnly.config, {
        type: 'cloud',
        networking: { type: 'limited', allowed_hosts: ['a.example.com'], allow_package_managers: true, allow_mcp_servers: false },
        packages: { ...EMPTY_PACKAGES, pip: ['scipy'], npm: ['left-pad'] },
      });
      // Limited flags merge into the stored limited policy; a null manager list empties it.
      const flags = await client.beta.environments.update(created.id, {
        config: { type: 'cloud', networking: { type: 'limited', allow_mcp_servers: true }, packages: { npm: null } },
      });
      assert.deepEqual(flags.config, {
        type: 'cloud',
        networking: { type: 'limited', allowed_hosts: ['a.example.com'], allow_package_managers: true, allow_mcp_servers: true },
        packages: { ...EMPTY_PACKAGES, pip: ['scipy'] },
      });
      // config: {type} alone changes nothing; config omitted changes nothing.
      assert.deepEqual((await client.beta.environments.update(created.id, { config: { type: 'cloud' } })).config, flags.config);
      assert.deepEqual((await client.beta.environments.update(created.id, { metadata: { k: 'v' } })).config, flags.config);
      // Unrestricted replaces the limited policy; null networking and packages reset to the defaults.
      const open = await client.beta.environments.update(created.id, { config: { type: 'cloud', networking: { type: 'unrestricted' } } });
      assert.deepEqual(open.config, { type: 'cloud', networking: { type: 'unrestricted' }, packages: { ...EMPTY_PACKAGES, pip: ['scipy'] } });
      const reset = await client.beta.environments.update(created.id, { config: { type: 'cloud', networking: null, packages: null } });
      assert.deepEqual(reset.config, DEFAULT_CONFIG);
      // Going unrestricted → limited starts from the limited defaults.
      const limited = await client.beta.environments.update(created.id, { config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['b.example.com'] } } });
      assert.deepEqual(limited.config.type === 'cloud' && limited.config.networking, {
        type: 'limited',
        allowed_hosts: ['b.example.com'],
        allow_package_managers: false,
        allow_mcp_servers: false,
      });
      assert.deepEqual(await retrieve(created.id), limited);
    });

    it('[ENV-5] update is checked on the merged config: packages added under limited networking without package managers → 400', async () => {
      const created = await client.beta.environments.create({
        name: uniqueName('merged-rule'),
        config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['x.example.com'] } },
      });
      await assert.rejects(client.beta.environments.update(created.id, { config: { type: 'cloud', packages: { pip: ['numpy'] } } }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.BadRequestError, String(error));
        assert.match(error.message, /allow_package_managers/);
        return true;
      });
      const packaged = await client.beta.environments.create({ name: uniqueName('merged-rule'), config: { type: 'cloud', packages: { apt: ['git'] } } });
      await assert.rejects(
        client.beta.environments.update(packaged.id, { config: { type: 'cloud', networking: { type: 'limited' } } }),
        Anthropic.BadRequestError,
      );
      assert.deepEqual(await retrieve(created.id), created);
      assert.deepEqual(await retrieve(packaged.id), packaged);
    });

    it('[ENV-6] changing config.type is a 400 invalid_config_type_change, and nothing is written', async () => {
      const cloud = await client.beta.environments.create({ name: uniqueName('cloud') });
      const selfHosted = await client.beta.environments.create({ name: uniqueName('self'), config: { type: 'self_hosted' } });
      for (const [environment, config] of [
        [cloud, { type: 'self_hosted' }],
        [selfHosted, { type: 'cloud' }],
      ] as const) {
        await assert.rejects(client.beta.environments.update(environment.id, { name: 'renamed-too', config }), (error: unknown) => {
          assert.ok(error instanceof BetaInvalidConfigTypeChangeError, String(error));
          assert.equal(error.status, 400);
          assert.equal(error.errorCode, 'invalid_config_type_change');
          return true;
        });
        assert.deepEqual(await retrieve(environment.id), environment);
      }
    });

    it('[ENV-8] metadata: checked on create (invalid_metadata); on update a patch where null and "" delete', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('meta'), metadata: { a: '1', b: '2', c: '3' } });
      const patched = await client.beta.environments.update(created.id, { metadata: { a: 'one', b: null, c: '', d: '4' } });
      assert.deepEqual(patched.metadata, { a: 'one', d: '4' });
      assert.deepEqual((await retrieve(created.id)).metadata, { a: 'one', d: '4' });
      const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, index) => [`k${index}`, 'v']));
      await assert.rejects(client.beta.environments.create({ name: uniqueName('meta'), metadata: tooMany }), BetaInvalidMetadataError);
      await assert.rejects(client.beta.environments.update(created.id, { metadata: { big: 'x'.repeat(513) } }), (error: unknown) => {
        assert.ok(error instanceof BetaInvalidMetadataError, String(error));
        assert.equal(error.errorCode, 'invalid_metadata');
        return true;
      });
      assert.deepEqual((await retrieve(created.id)).metadata, { a: 'one', d: '4' });
    });

    it('[ENV-18] updated_at moves on a change and stays on an update that changes nothing', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('stamp'), metadata: { a: '1' } });
      await sleep(5);
      const same = await client.beta.environments.update(created.id, { name: created.name, metadata: { a: '1', gone: null }, config: { type: 'cloud' } });
      assert.deepEqual(same, created);
      const changed = await client.beta.environments.update(created.id, { description: 'now described' });
      assert.ok(changed.updated_at > created.updated_at, `${changed.updated_at} > ${created.updated_at}`);
      assert.equal(changed.created_at, created.created_at);
    });

    it('[ENV-12] archive sets archived_at, is idempotent, and the environment stays retrievable', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('archive') });
      await sleep(5);
      const archived = await client.beta.environments.archive(created.id);
      assert.match(archived.archived_at ?? '', RFC3339_MS);
      assert.ok(archived.archived_at! > created.created_at);
      assert.equal(archived.updated_at, archived.archived_at);
      assert.deepEqual({ ...archived, archived_at: null, updated_at: created.updated_at }, created);
      assert.deepEqual(await client.beta.environments.archive(created.id), archived, 'archiving again returns it unchanged');
      assert.deepEqual(await retrieve(created.id), archived);
    });

    it('[ENV-7] updating an archived environment is a 400 environment_archived, and nothing is written', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('frozen') });
      const archived = await client.beta.environments.archive(created.id);
      for (const body of [{ name: 'thawed' }, { metadata: { a: 'b' } }, {}]) {
        await assert.rejects(client.beta.environments.update(created.id, body), (error: unknown) => {
          assert.ok(error instanceof BetaEnvironmentArchivedError, String(error));
          assert.equal(error.status, 400);
          assert.equal(error.errorCode, 'environment_archived');
          return true;
        });
      }
      assert.deepEqual(await retrieve(created.id), archived);
    });

    it('[ENV-13] delete answers 200 with the deletion object; afterwards the id is a 404 everywhere', async () => {
      const created = await client.beta.environments.create({ name: uniqueName('doomed') });
      const response = await client.beta.environments.delete(created.id).withResponse();
      assert.equal(response.response.status, 200);
      assert.deepEqual({ ...response.data }, { id: created.id, type: 'environment_deleted' });
      await assert.rejects(retrieve(created.id), BetaEnvironmentNotFoundError);
      await assert.rejects(client.beta.environments.delete(created.id), BetaEnvironmentNotFoundError);
      await assert.rejects(client.beta.environments.archive(created.id), BetaEnvironmentNotFoundError);
      const listed: BetaEnvironment[] = [];
      for await (const environment of client.beta.environments.list({ include_archived: true, limit: 1000 })) listed.push(environment);
      assert.ok(!listed.some((environment) => environment.id === created.id));
      // Archived environments can be deleted too, and the name is free again.
      const second = await client.beta.environments.create({ name: created.name });
      await client.beta.environments.archive(second.id);
      assert.equal((await client.beta.environments.delete(second.id)).id, second.id);
    });
  });
}
