import { PGlite, types } from '@electric-sql/pglite';
import { resolve } from 'node:path';
import type { Db, QueryResult, Queryable } from './interface.ts';
import { acquireDirLock, type DirLock } from './dir-lock.ts';

const PARSERS = { [types.INT8]: (value: string) => Number(value) };

function wrap(target: Pick<PGlite, 'query' | 'exec'>): Queryable {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      // Without parameters use the simple protocol, which (as in `pg`) allows several statements.
      const result = params.length === 0 ? (await target.exec(sql)).at(-1)! : await target.query<Row>(sql, params as unknown[]);
      return { rows: result.rows as Row[], rowCount: result.affectedRows || result.rows.length };
    },
  };
}

/**
 * Embedded PostgreSQL (PGlite, WASM) in a directory. One process only: the directory is locked for
 * as long as this Db is open, and a second opener fails with a message naming the holder.
 */
export async function openPglite(dataDir: string): Promise<Db> {
  const dir = resolve(dataDir);
  const lock: DirLock = acquireDirLock(dir);
  let pg: PGlite;
  try {
    pg = new PGlite({ dataDir: `${dir}/pgdata`, parsers: PARSERS });
    await pg.waitReady;
  } catch (error) {
    lock.release();
    throw error;
  }
  const inner = wrap(pg);
  let closing: Promise<void> | undefined;
  return {
    kind: 'pglite',
    description: `PGlite at ${dir}`,
    query: inner.query,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      const unlisten = await pg.listen(channel, onNotify);
      return () => unlisten();
    },
    close() {
      closing ??= (async () => {
        try {
          if (!pg.closed) await pg.close();
        } finally {
          lock.release();
        }
      })();
      return closing;
    },
  };
}
