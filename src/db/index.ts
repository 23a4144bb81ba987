import { OmaError } from '../errors.ts';
import type { Db } from './interface.ts';
import { migrate } from './migrate.ts';

export type { Db, Queryable, QueryResult } from './interface.ts';
export { migrate } from './migrate.ts';

export interface OpenDbOptions {
  /** `postgres://…` / `postgresql://…` for PostgreSQL; unset for embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  /** PGlite directory (created if missing). */
  dataDir: string;
  /** PostgreSQL schema, for tests that need a fresh one. */
  schema?: string | undefined;
  /** PostgreSQL pool size (default 16). */
  poolSize?: number;
}

/**
 * Open the configured database and bring its schema up to date. Implementations are loaded lazily,
 * so a PostgreSQL deployment never loads PGlite's WASM, and vice versa.
 */
export async function openDb(options: OpenDbOptions): Promise<Db> {
  let db: Db;
  const url = options.databaseUrl;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new OmaError('invalid_request', 'DATABASE_URL must start with postgres:// or postgresql://');
    }
    const { openPostgres } = await import('./postgres.ts');
    db = await openPostgres(url, { schema: options.schema, max: options.poolSize });
  } else {
    const { openPglite } = await import('./pglite.ts');
    db = await openPglite(options.dataDir);
  }
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
