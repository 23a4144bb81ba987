import type { Db } from '../db/interface.ts';
import type { SessionLog } from './interface.ts';
import { MemorySessionLog } from './memory.ts';
import { PostgresSessionLog, type PostgresSessionLogOptions } from './postgres.ts';

export type * from './interface.ts';

/** The durable log over `db` (PGlite or PostgreSQL), or an in-memory one when `db` is omitted. */
export async function openSessionLog(db?: Db, options?: PostgresSessionLogOptions): Promise<SessionLog> {
  return db ? PostgresSessionLog.open(db, options) : new MemorySessionLog();
}
