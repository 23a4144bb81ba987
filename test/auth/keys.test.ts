import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authenticate, createKey, listKeys, revokeKey, seedKey } from '../../src/auth/keys.ts';
import type { Db } from '../../src/db/index.ts';
import { isOmaError } from '../../src/errors.ts';
import { testDatabases } from '../../src/testing/databases.ts';

for (const database of testDatabases) {
  describe(`API keys on ${database.name}`, { skip: database.skip }, () => {
    let db: Db;
    let dispose: () => Promise<void>;
    before(async () => ({ db, dispose } = await database.create()));
    after(() => dispose?.());

    it('a created key authenticates as its workspace and is stored only as a hash', async () => {
      const created = await createKey(db, { workspace: 'acme', name: 'deploy' });
      assert.match(created.key, /^sk-oma-[1-9A-HJ-NP-Za-km-z]{40,}$/);
      assert.equal(created.hint, created.key.slice(-4));
      const principal = await authenticate(db, created.key);
      assert.deepEqual(principal, { workspaceId: created.workspace_id, keyId: created.id, admin: false });
      // Back door: the secret appears nowhere in the table.
      const { rows } = await db.query('SELECT * FROM api_keys');
      assert.ok(!JSON.stringify(rows).includes(created.key.slice(7, 30)), 'no part of the key body is stored');
      assert.equal(await authenticate(db, created.key + 'x'), undefined);
      assert.equal(await authenticate(db, ''), undefined);
    });

    it('workspaces are created on demand and keep their keys apart', async () => {
      const a = await createKey(db, { workspace: 'team-a' });
      const b = await createKey(db, { workspace: 'team-b' });
      assert.notEqual(a.workspace_id, b.workspace_id);
      assert.equal((await authenticate(db, a.key))?.workspaceId, a.workspace_id);
      assert.deepEqual((await listKeys(db, { workspace: 'team-a' })).map((key) => key.id), [a.id]);
      assert.deepEqual(await listKeys(db, { workspace: 'no-such-team' }), []);
      const all = await listKeys(db);
      assert.ok(all.some((key) => key.id === a.id) && all.some((key) => key.id === b.id));
      assert.ok(all.every((key) => !('key' in key) && !('key_hash' in key)), 'listings never carry secrets');
      await assert.rejects(createKey(db, { workspace: 'Bad Name' }), (error) => isOmaError(error, 'invalid_request'));
    });

    it('revocation takes effect at once and is idempotent; unknown ids are not_found', async () => {
      const created = await createKey(db, { workspace: 'acme' });
      const revoked = await revokeKey(db, created.id);
      assert.ok(revoked.revoked_at);
      assert.equal(await authenticate(db, created.key), undefined);
      assert.equal((await revokeKey(db, created.id)).revoked_at, revoked.revoked_at);
      await assert.rejects(revokeKey(db, 'apikey_nope'), (error) => isOmaError(error, 'not_found'));
    });

    it('OMA_API_KEY seeding is idempotent, makes an admin key of workspace default, and never un-revokes', async () => {
      const key = 'sk-operator-chosen-key-123456';
      const first = await seedKey(db, key);
      const second = await seedKey(db, key);
      assert.equal(first.id, second.id);
      assert.equal(first.workspace, 'default');
      assert.equal((await authenticate(db, key))?.admin, true);
      await revokeKey(db, first.id);
      assert.ok((await seedKey(db, key)).revoked_at, 'a revoked seed key stays revoked');
      assert.equal(await authenticate(db, key), undefined);
      await assert.rejects(seedKey(db, 'short'), (error) => isOmaError(error, 'invalid_request'));
    });
  });
}
