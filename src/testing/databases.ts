import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDb, type Db } from '../db/index.ts';
import { loadMigrations } from '../db/migrate.ts';

/**
 * Databases for tests. A fresh PGlite costs ~2.5 s to initialise, so one migrated template per
 * machine (keyed by the migrations' content) is copied instead; PostgreSQL tests get a fresh schema
 * each, dropped afterwards, so runs can repeat and run side by side.
 */

export const postgresUrl: string | undefined = process.env.DATABASE_URL || undefined;

/** Why PostgreSQL tests are skipped, or `false` when they run. In CI they never skip. */
export const skipPostgres: string | false = postgresUrl
  ? false
  : process.env.CI
    ? false // fail loudly below instead of silently skipping
    : 'DATABASE_URL is not set (CI sets it; e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)';

function templateDir(): string {
  const hash = createHash('sha256');
  for (const migration of loadMigrations()) hash.update(migration.sql);
  return join(tmpdir(), `oma-pglite-template-${hash.digest('hex').slice(0, 12)}`);
}

/** A new, migrated PGlite data directory (path only; open it with `openDb`). */
export async function freshPgliteDir(): Promise<string> {
  const template = templateDir();
  if (!existsSync(template)) {
    const building = `${template}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const db = await openDb({ dataDir: building });
    await db.close();
    try {
      renameSync(building, template);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another test file won the race
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'oma-test-'));
  cpSync(template, dir, { recursive: true });
  return dir;
}

export interface TestPostgres {
  url: string;
  schema: string;
  open(): Promise<Db>;
  /** Drop the schema and everything in it. */
  drop(): Promise<void>;
}

/** A fresh schema (named `<prefix>_<random>`) in the PostgreSQL at `url`, by default `DATABASE_URL`. */
export function freshPostgres(options: { url?: string; prefix?: string } = {}): TestPostgres {
  const url = options.url ?? postgresUrl;
  if (!url) throw new Error('PostgreSQL tests need DATABASE_URL (set CI-style: postgres://postgres@127.0.0.1:5432/test)');
  const schema = `${options.prefix ?? 'oma_test'}_${randomBytes(6).toString('hex')}`;
  return {
    url,
    schema,
    open: () => openDb({ databaseUrl: url, dataDir: '', schema }),
    async drop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface TestDatabase {
  name: 'PGlite' | 'PostgreSQL';
  /** Why this database's tests are skipped, or false. */
  skip: string | false;
  /** A fresh, migrated database, and how to throw it away. */
  create(): Promise<{ db: Db; dispose(): Promise<void> }>;
}

/** Storage tests run on both: `for (const database of testDatabases) describe(database.name, { skip: database.skip }, …)`. */
export const testDatabases: TestDatabase[] = [
  {
    name: 'PGlite',
    skip: false,
    async create() {
      const dir = await freshPgliteDir();
      const db = await openDb({ dataDir: dir });
      return {
        db,
        async dispose() {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: skipPostgres,
    async create() {
      const pg = freshPostgres();
      const db = await pg.open();
      return {
        db,
        async dispose() {
          await db.close();
          await pg.drop();
        },
      };
    },
  },
];
