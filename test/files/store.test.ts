import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ensureWorkspace } from '../../src/auth/keys.ts';
import type { Db, Queryable } from '../../src/db/interface.ts';
import { isOmaError } from '../../src/errors.ts';
import { createFile, deleteFile, getFileMetadata, openFileContent, readFileChunks } from '../../src/files/store.ts';
import { CHUNK_BYTES, DEFAULT_MAX_FILE_BYTES, maxFileBytesFromEnv } from '../../src/files/upload.ts';
import { testDatabases } from '../../src/testing/databases.ts';

/** The file store under the routes, as sessions use it, on PGlite and PostgreSQL. */

function split(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) chunks.push(bytes.subarray(offset, offset + CHUNK_BYTES));
  return chunks;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const chunk of chunks) pieces.push(Buffer.from(chunk));
  return Buffer.concat(pieces);
}

/** `db` with a count of the statements sent through it. */
function counting(db: Queryable): Queryable & { count: number } {
  const wrapper = {
    count: 0,
    query: ((sql: string, params?: readonly unknown[]) => {
      wrapper.count++;
      return db.query(sql, params);
    }) as Queryable['query'],
  };
  return wrapper;
}

for (const database of testDatabases) {
  describe(database.name, { skip: database.skip }, () => {
    let db: Db;
    let dispose: () => Promise<void>;
    let mine: string;
    let theirs: string;

    before(async () => {
      ({ db, dispose } = await database.create());
      mine = (await ensureWorkspace(db, 'mine')).id;
      theirs = (await ensureWorkspace(db, 'theirs')).id;
    });
    after(() => dispose?.());

    it('[FILE-19] getFileMetadata returns the BetaFileMetadata; unknown or foreign ids are not_found', async () => {
      const created = await createFile(db, {
        workspaceId: mine,
        filename: 'out.csv',
        mimeType: 'text/csv',
        chunks: [Buffer.from('a,b\n')],
        scope: { type: 'session', id: 'sesn_abc' },
      });
      assert.deepEqual(await getFileMetadata(db, mine, created.id), {
        type: 'file',
        id: created.id,
        filename: 'out.csv',
        mime_type: 'text/csv',
        size_bytes: 4,
        created_at: created.created_at,
        downloadable: true,
        expires_at: null,
        scope: { type: 'session', id: 'sesn_abc' },
      });
      for (const [workspace, id] of [
        [theirs, created.id],
        [mine, 'file_nope'],
      ] as const) {
        await assert.rejects(getFileMetadata(db, workspace, id), (error: unknown) => isOmaError(error, 'not_found'));
      }
      await assert.rejects(deleteFile(db, theirs, created.id), (error: unknown) => isOmaError(error, 'not_found'));
    });

    it('[FILE-16] metadata and chunks are written in one transaction: a failing chunk leaves nothing', async () => {
      // Fault injection by wrapping the Db: the second chunk's INSERT fails, as a full disk would.
      let chunkInserts = 0;
      const failing = <T extends Queryable>(target: T): Queryable => ({
        query: ((sql: string, params?: readonly unknown[]) =>
          sql.includes('INSERT INTO file_chunks') && ++chunkInserts === 2 ? Promise.reject(new Error('disk full')) : target.query(sql, params)) as Queryable['query'],
      });
      const faulty: Db = { ...db, kind: db.kind, query: failing(db).query, transaction: (fn) => db.transaction((tx) => fn(failing(tx))) };
      const count = async () => (await db.query<{ n: number }>('SELECT (SELECT count(*) FROM files)::int8 + (SELECT count(*) FROM file_chunks)::int8 AS n')).rows[0]!.n;
      const before = await count();
      await assert.rejects(
        createFile(faulty, { workspaceId: mine, filename: 'half.bin', mimeType: 'application/octet-stream', chunks: split(randomBytes(2 * CHUNK_BYTES)) }),
        /disk full/,
      );
      assert.equal(chunkInserts, 2);
      assert.equal(await count(), before, 'neither the row nor the first chunk was kept');
    });

    it('[FILE-16] content is read one chunk per query, in order, and a file deleted mid-read fails the read', async () => {
      const bytes = randomBytes(2 * CHUNK_BYTES + 100);
      const file = await createFile(db, { workspaceId: mine, filename: 'three.bin', mimeType: 'application/octet-stream', chunks: split(bytes) });
      assert.ok((await collect((await openFileContent(db, mine, file.id)).chunks)).equals(bytes));

      const spy = counting(db);
      const iterator = readFileChunks(spy, { id: file.id, size_bytes: file.size_bytes })[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.value?.length, CHUNK_BYTES);
      assert.equal(spy.count, 1, 'one chunk read so far, not the whole file');
      await deleteFile(db, mine, file.id);
      await assert.rejects(iterator.next(), (error: unknown) => isOmaError(error, 'not_found'));
    });

    it('[FILE-14] openFileContent refuses an expired file with error_code file_expired', async () => {
      const file = await createFile(db, { workspaceId: mine, filename: 'old.txt', mimeType: 'text/plain', chunks: [Buffer.from('x')], expiresInSeconds: 3600 });
      await db.query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = $1`, [file.id]);
      await assert.rejects(openFileContent(db, mine, file.id), (error: unknown) => isOmaError(error, 'not_found') && error.details?.error_code === 'file_expired');
    });
  });
}

describe('size limit setting', () => {
  it('[FILE-11] OMA_MAX_FILE_BYTES defaults to 100 MiB and must be a whole number ≥ 1', () => {
    assert.equal(DEFAULT_MAX_FILE_BYTES, 100 * 1024 * 1024);
    assert.equal(maxFileBytesFromEnv({}), DEFAULT_MAX_FILE_BYTES);
    assert.equal(maxFileBytesFromEnv({ OMA_MAX_FILE_BYTES: '' }), DEFAULT_MAX_FILE_BYTES);
    assert.equal(maxFileBytesFromEnv({ OMA_MAX_FILE_BYTES: '2048' }), 2048);
    for (const value of ['0', '-1', '1.5', '10MB', 'abc']) {
      assert.throws(() => maxFileBytesFromEnv({ OMA_MAX_FILE_BYTES: value }), (error: unknown) => isOmaError(error, 'invalid_request'), value);
    }
  });
});
