import { describe } from 'node:test';
import type { Db } from '../../src/db/index.ts';
import { describeSessionLogConformance } from '../../src/session/conformance.ts';
import { PostgresSessionLog } from '../../src/session/postgres.ts';
import { freshPostgres, skipPostgres, type TestPostgres } from '../../src/testing/databases.ts';

let pg: TestPostgres;
let db: Db;
const peers: Db[] = [];

describe('PostgreSQL', { skip: skipPostgres }, () => {
  describeSessionLogConformance({
    name: 'PostgreSQL',
    async setup() {
      pg = freshPostgres();
      db = await pg.open();
    },
    open: () => PostgresSessionLog.open(db),
    async reopen(log) {
      await log.close();
      await db.close();
      db = await pg.open();
      return PostgresSessionLog.open(db);
    },
    async openPeer() {
      const peerDb = await pg.open();
      peers.push(peerDb);
      return PostgresSessionLog.open(peerDb, { pollEveryMs: 3_600_000 });
    },
    rawQuery: async (sql, params) => (await db.query(sql, params)).rows,
    async teardown() {
      await Promise.all([db.close(), ...peers.map((peer) => peer.close())]);
      await pg.drop();
    },
  });
});
