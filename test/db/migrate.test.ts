import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDb, type Db } from '../../src/db/index.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { freshPostgres, skipPostgres, testDatabases } from '../../src/testing/databases.ts';

describe('migrations', () => {
  it('are numbered NNNN_name.sql, in order, without gaps', () => {
    const versions = loadMigrations().map((migration) => migration.version);
    assert.deepEqual(
      versions,
      versions.map((_, index) => index + 1),
    );
  });

  for (const database of testDatabases) {
    it(`are recorded and idempotent on ${database.name}`, { skip: database.skip }, async () => {
      const { db, dispose } = await database.create(); // create() already migrated
      try {
        assert.deepEqual(await migrate(db), [], 'a second run applies nothing');
        const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(
          rows.map((row) => row.version),
          loadMigrations().map((migration) => migration.version),
        );
        for (const table of ['workspaces', 'api_keys', 'session_logs', 'events']) {
          await db.query(`SELECT 1 FROM ${table} LIMIT 0`);
        }
      } finally {
        await dispose();
      }
    });
  }

  it('apply exactly once when several processes start at once on PostgreSQL', { skip: skipPostgres }, async () => {
    const pg = freshPostgres();
    const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openDb({ databaseUrl: pg.url, dataDir: '', schema: pg.schema })));
    try {
      for (const result of opened) if (result.status === 'rejected') throw result.reason;
      const db = (opened[0] as PromiseFulfilledResult<Db>).value;
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      assert.equal(rows[0]!.n, loadMigrations().length);
    } finally {
      await Promise.all(opened.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
      await pg.drop();
    }
  });

  it('a PostgreSQL that cannot be reached fails with a message naming DATABASE_URL but not its password', async () => {
    await assert.rejects(openDb({ databaseUrl: 'postgres://oma:hunter2secret@127.0.0.1:1/nowhere', dataDir: '' }), (error: Error) => {
      assert.match(error.message, /DATABASE_URL \(127\.0\.0\.1:1\/nowhere\)/);
      assert.doesNotMatch(error.message, /hunter2secret/);
      return true;
    });
  });
});
