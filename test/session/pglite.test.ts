import { rmSync } from 'node:fs';
import { openDb, type Db } from '../../src/db/index.ts';
import { describeSessionLogConformance } from '../../src/session/conformance.ts';
import { PostgresSessionLog } from '../../src/session/postgres.ts';
import { freshPgliteDir } from '../../src/testing/databases.ts';

let dir: string;
let db: Db;

describeSessionLogConformance({
  name: 'PGlite',
  async setup() {
    dir = await freshPgliteDir();
    db = await openDb({ dataDir: dir });
  },
  open: () => PostgresSessionLog.open(db),
  async reopen(log) {
    await log.close();
    await db.close();
    db = await openDb({ dataDir: dir });
    return PostgresSessionLog.open(db);
  },
  rawQuery: async (sql, params) => (await db.query(sql, params)).rows,
  async teardown() {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  },
});
