import Anthropic, { toFile } from '@anthropic-ai/sdk';
import type { BetaFileMetadata } from '@anthropic-ai/sdk/resources/beta/files';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';

/**
 * The Files API through the official SDK (`client.beta.files.*`), on PGlite and PostgreSQL. Each
 * server runs with OMA_MAX_FILE_BYTES = 5 MiB so the size limit can be crossed under the app's
 * 32 MiB body limit.
 */

const MiB = 1024 * 1024;
const LIMIT = 5 * MiB;
const ID = /^file_[1-9A-HJ-NP-Za-km-z]{22}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Bytes holding every byte value, then random ones: `size` long. */
function binary(size: number): Buffer {
  const bytes = randomBytes(size);
  for (let value = 0; value < 256 && value < size; value++) bytes[value] = value;
  return bytes;
}

async function startFilesOma(storage: 'pglite' | 'postgres'): Promise<TestOma> {
  const previous = process.env.OMA_MAX_FILE_BYTES;
  process.env.OMA_MAX_FILE_BYTES = String(LIMIT); // read when the routes are built
  try {
    return await startTestOma({ storage });
  } finally {
    if (previous === undefined) delete process.env.OMA_MAX_FILE_BYTES;
    else process.env.OMA_MAX_FILE_BYTES = previous;
  }
}

async function rejectsWith(promise: Promise<unknown>, status: number, type: string, errorCode?: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Anthropic.APIError, String(error));
    assert.equal(error.status, status, error.message);
    assert.equal(error.type, type);
    if (errorCode !== undefined) assert.equal(error.errorCode, errorCode);
    return true;
  });
}

for (const storage of ['pglite', 'postgres'] as const) {
  describe(storage, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    let other: Anthropic;

    before(async () => {
      oma = await startFilesOma(storage);
      client = oma.client;
      const key = await createKey(oma.db, { workspace: 'other' });
      other = new Anthropic({ baseURL: oma.url, apiKey: key.key, maxRetries: 0 });
    });
    after(() => oma?.dispose());

    const allIds = async (sdk: Anthropic = client) => {
      const ids: string[] = [];
      for await (const file of sdk.beta.files.list({ limit: 1000 })) ids.push(file.id);
      return ids;
    };
    const chunkCount = async () => (await oma.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM file_chunks')).rows[0]!.n;

    describe('upload, retrieve, download, delete', () => {
      it('[FILE-1] [FILE-13] upload answers BetaFileMetadata with every field, with no beta header sent', async () => {
        const before = Date.now();
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('hello, files\n'), 'notes.txt', { type: 'text/plain' }) });
        assert.match(file.id, ID);
        assert.deepEqual(file, {
          type: 'file',
          id: file.id,
          filename: 'notes.txt',
          mime_type: 'text/plain',
          size_bytes: 13,
          created_at: file.created_at,
          downloadable: true,
          expires_at: null,
          scope: null,
        });
        assert.match(file.created_at, TIMESTAMP);
        assert.ok(Math.abs(Date.parse(file.created_at) - before) < 60_000);
      });

      it('[FILE-13] an older SDK\'s files-api-2025-04-14 beta header is accepted too, and client.files (non-beta) reaches the same files', async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'beta.txt'), betas: ['files-api-2025-04-14'] });
        assert.equal((await client.beta.files.retrieveMetadata(file.id, { betas: ['files-api-2025-04-14'] })).filename, 'beta.txt');
        // SDK 1.14 also has the same routes outside beta (`client.files.*`).
        assert.equal((await client.files.retrieveMetadata(file.id)).filename, 'beta.txt');
      });

      it('[FILE-4] retrieveMetadata returns what the upload returned; an unknown id is a 404', async () => {
        const uploaded = await client.beta.files.upload({ file: await toFile(Buffer.from('{"a":1}'), 'data.json', { type: 'application/json' }) });
        assert.deepEqual(await client.beta.files.retrieveMetadata(uploaded.id), uploaded);
        await rejectsWith(client.beta.files.retrieveMetadata('file_doesnotexist'), 404, 'not_found_error');
      });

      it('[FILE-5] [FILE-16] a binary file of a few MB with every byte value comes back byte for byte, stored in ≤ 1 MiB chunks', async () => {
        const bytes = binary(3 * MiB + 12_345);
        const file = await client.beta.files.upload({ file: await toFile(bytes, 'blob.bin', { type: 'application/x-custom' }) });
        assert.equal(file.size_bytes, bytes.length);
        assert.equal(file.mime_type, 'application/x-custom');

        const response = await client.beta.files.download(file.id);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'application/x-custom');
        assert.equal(response.headers.get('content-length'), String(bytes.length));
        assert.equal(response.headers.get('content-disposition'), `attachment; filename="blob.bin"; filename*=UTF-8''blob.bin`);
        const back = Buffer.from(await response.arrayBuffer());
        assert.equal(back.length, bytes.length);
        assert.ok(back.equals(bytes), 'the downloaded bytes equal the uploaded ones');

        const { rows } = await oma.db.query<{ position: number; size: number }>(
          'SELECT position, length(data) AS size FROM file_chunks WHERE file_id = $1 ORDER BY position',
          [file.id],
        );
        assert.deepEqual(
          rows.map((row) => [row.position, row.size]),
          [
            [0, MiB],
            [1, MiB],
            [2, MiB],
            [3, 12_345],
          ],
        );
      });

      it('[FILE-5] an empty file and a non-ASCII filename download correctly', async () => {
        const empty = await client.beta.files.upload({ file: await toFile(Buffer.alloc(0), 'empty.txt', { type: 'text/plain' }) });
        assert.equal(empty.size_bytes, 0);
        const emptyResponse = await client.beta.files.download(empty.id);
        assert.equal((await emptyResponse.arrayBuffer()).byteLength, 0);

        const named = await client.beta.files.upload({ file: await toFile(Buffer.from('€'), 'résumé "final".txt', { type: 'text/plain' }) });
        assert.equal(named.filename, 'résumé "final".txt');
        const response = await client.beta.files.download(named.id);
        assert.equal(
          response.headers.get('content-disposition'),
          `attachment; filename="r_sum_ _final_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt`,
        );
        assert.equal(await response.text(), '€');
      });

      it('[FILE-9] delete answers the deletion object; then the file is gone everywhere', async () => {
        const file = await client.beta.files.upload({ file: await toFile(binary(1.5 * MiB), 'doomed.bin') });
        assert.ok((await allIds()).includes(file.id));
        assert.deepEqual(await client.beta.files.delete(file.id), { id: file.id, type: 'file_deleted' });
        await rejectsWith(client.beta.files.retrieveMetadata(file.id), 404, 'not_found_error');
        await rejectsWith(client.beta.files.download(file.id), 404, 'not_found_error');
        await rejectsWith(client.beta.files.delete(file.id), 404, 'not_found_error');
        assert.ok(!(await allIds()).includes(file.id));
        assert.equal((await client.beta.files.list({ ids: [file.id] })).data.length, 0);
        const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM file_chunks WHERE file_id = $1', [file.id]);
        assert.equal(rows[0]!.n, 0, 'its chunks were deleted with it');
      });
    });

    describe('filenames and media types', () => {
      it('[FILE-2] only the last path component of the filename is kept', async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'some/dir/report.txt', { type: 'text/plain' }) });
        assert.equal(file.filename, 'report.txt');
        const windows = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'C:\\Users\\me\\report.pdf', { type: 'application/pdf' }) });
        assert.equal(windows.filename, 'report.pdf');
      });

      it('[FILE-2] [FILE-3] an empty filename becomes unnamed + the extension of the type', async () => {
        const pdf = await client.beta.files.upload({ file: await toFile(Buffer.from('%PDF-1.4'), '', { type: 'application/pdf' }) });
        assert.equal(pdf.filename, 'unnamed.pdf');
        const unknown = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), '', { type: 'application/x-whatever' }) });
        assert.equal(unknown.filename, 'unnamed');
        assert.equal(unknown.mime_type, 'application/x-whatever');
      });

      it('[FILE-3] a typeless File (sent as application/octet-stream) gets the type of its extension', async () => {
        const png = await client.beta.files.upload({ file: await toFile(Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'chart.PNG') });
        assert.equal(png.mime_type, 'image/png');
        const other = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'data.unknownext') });
        assert.equal(other.mime_type, 'application/octet-stream');
      });

      it('[FILE-2] [FILE-3] a part with neither filename nor Content-Type is text/plain named unnamed.txt', async () => {
        const body = `--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\nplain words\r\n--b0undary--\r\n`;
        const response = await fetch(`${oma.url}/v1/files`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'multipart/form-data; boundary=b0undary' },
          body,
        });
        assert.equal(response.status, 200);
        const file = (await response.json()) as BetaFileMetadata;
        assert.equal(file.filename, 'unnamed.txt');
        assert.equal(file.mime_type, 'text/plain');
        assert.equal(file.size_bytes, 11);
      });

      it('[FILE-2] [FILE-3] a filename over 500 characters, with control characters, or a malformed type is a 400, and nothing is stored', async () => {
        const before = await allIds();
        const chunks = await chunkCount();
        await rejectsWith(client.beta.files.upload({ file: await toFile(Buffer.from('x'), `${'a'.repeat(497)}.txt`) }), 400, 'invalid_request_error');
        await rejectsWith(client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'bad\u0001name.txt') }), 400, 'invalid_request_error');
        const body = `--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: not a type\r\n\r\nx\r\n--b0undary--\r\n`;
        const response = await fetch(`${oma.url}/v1/files`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'multipart/form-data; boundary=b0undary' },
          body,
        });
        assert.equal(response.status, 400);
        assert.deepEqual(await allIds(), before);
        assert.equal(await chunkCount(), chunks);
        // exactly 500 characters is fine
        const longest = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), `${'a'.repeat(496)}.txt`) });
        assert.equal(longest.filename.length, 500);
      });
    });

    describe('bad uploads', () => {
      it('[FILE-12] no file part, two file parts, an unknown field, or a body that is not multipart: 400, nothing stored', async () => {
        const before = await allIds();
        const chunks = await chunkCount();
        // The SDK itself, with the file missing: an empty multipart form.
        await rejectsWith(client.beta.files.upload({} as never), 400, 'invalid_request_error');
        await rejectsWith(
          client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'a.txt'), purpose: 'assistants' } as never),
          400,
          'invalid_request_error',
        );
        const two = new FormData();
        two.append('file', new File(['one'], 'one.txt'));
        two.append('file', new File(['two'], 'two.txt'));
        const headers = { authorization: `Bearer ${TEST_API_KEY}` };
        assert.equal((await fetch(`${oma.url}/v1/files`, { method: 'POST', headers, body: two })).status, 400);
        const json = await fetch(`${oma.url}/v1/files`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ file: 'hello' }),
        });
        assert.equal(json.status, 400);
        assert.match(((await json.json()) as { error: { message: string } }).error.message, /multipart\/form-data/);
        const cut = await fetch(`${oma.url}/v1/files`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'multipart/form-data; boundary=b0undary' },
          body: `--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ncut short`,
        });
        assert.equal(cut.status, 400);
        assert.deepEqual(await allIds(), before);
        assert.equal(await chunkCount(), chunks);
      });

      it('[FILE-11] a file over OMA_MAX_FILE_BYTES is a 413 request_too_large and nothing is stored; exactly the limit is accepted', async () => {
        const before = await allIds();
        const chunks = await chunkCount();
        await assert.rejects(client.beta.files.upload({ file: await toFile(binary(LIMIT + 1), 'big.bin') }), (error: unknown) => {
          assert.ok(error instanceof Anthropic.ContentTooLargeError, String(error));
          assert.equal(error.status, 413);
          assert.equal(error.type, 'request_too_large');
          assert.match(error.message, new RegExp(`${LIMIT}`));
          return true;
        });
        assert.deepEqual(await allIds(), before);
        assert.equal(await chunkCount(), chunks);

        // Refused by Content-Length before reading; and a chunked body (no length) refused as it streams.
        await rejectsWith(client.beta.files.upload({ file: await toFile(binary(LIMIT + 200 * 1024), 'bigger.bin') }), 413, 'request_too_large');
        const padding = Buffer.alloc(LIMIT + 100 * 1024, 'x');
        const chunked = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(padding); // a preamble: not a file part, still body
            controller.enqueue(Buffer.from(`\r\n--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--b0undary--\r\n`));
            controller.close();
          },
        });
        const response = await fetch(`${oma.url}/v1/files`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'multipart/form-data; boundary=b0undary' },
          body: chunked,
          duplex: 'half',
        } as RequestInit);
        assert.equal(response.status, 413);
        assert.equal(response.headers.get('connection'), 'close', 'the half-read connection is not offered for reuse');
        assert.deepEqual(await allIds(), before);
        assert.equal(await chunkCount(), chunks);

        const bytes = binary(LIMIT);
        const file = await client.beta.files.upload({ file: await toFile(bytes, 'exact.bin') });
        assert.equal(file.size_bytes, LIMIT);
        assert.ok(Buffer.from(await (await client.beta.files.download(file.id)).arrayBuffer()).equals(bytes));
        await client.beta.files.delete(file.id);
      });
    });

    describe('listing', () => {
      // A workspace of its own, so other tests' uploads do not interleave.
      let lister: Anthropic;
      let listerKey: string;
      const uploaded: string[] = [];
      before(async () => {
        listerKey = (await createKey(oma.db, { workspace: 'lister' })).key;
        lister = new Anthropic({ baseURL: oma.url, apiKey: listerKey, maxRetries: 0 });
        for (let index = 0; index < 25; index++) {
          uploaded.push((await lister.beta.files.upload({ file: await toFile(Buffer.from(`file ${index}`), `f${index}.txt`) })).id);
        }
      });

      it('[FILE-6] newest first, 20 by default, and the SDK walks every page with no gap or duplicate', async () => {
        const newestFirst = [...uploaded].reverse();
        const first = await lister.beta.files.list();
        assert.deepEqual(
          first.data.map((file) => file.id),
          newestFirst.slice(0, 20),
        );
        assert.equal(typeof first.next_page, 'string');
        assert.deepEqual(first.data[0], await lister.beta.files.retrieveMetadata(newestFirst[0]!), 'list items are the full metadata');

        const walked: string[] = [];
        let pages = 0;
        for await (const page of (await lister.beta.files.list({ limit: 7 })).iterPages()) {
          pages++;
          assert.ok(page.data.length <= 7);
          walked.push(...page.data.map((file) => file.id));
        }
        assert.deepEqual(walked, newestFirst);
        assert.equal(pages, 4);
        const last = await lister.beta.files.list({ limit: 25 });
        assert.equal(last.next_page, null, 'a page that holds the rest has no next page');
      });

      it('[FILE-6] limit outside 1…1000 and a page cursor oma did not issue are 400s', async () => {
        await rejectsWith(lister.beta.files.list({ limit: 0 }), 400, 'invalid_request_error');
        await rejectsWith(lister.beta.files.list({ limit: 1001 }), 400, 'invalid_request_error');
        await rejectsWith(lister.beta.files.list({ page: 'not-a-cursor' }), 400, 'invalid_request_error');
        assert.equal((await lister.beta.files.list({ limit: 1000 })).data.length, 25);
      });

      it('[FILE-7] ids: just those files, one page; unknown ids skipped; more than 100 or with page/limit is a 400', async () => {
        const wanted = [uploaded[3]!, uploaded[17]!, uploaded[3]!, 'file_unknown'];
        const page = await lister.beta.files.list({ ids: wanted });
        assert.deepEqual(
          page.data.map((file) => file.id),
          [uploaded[17], uploaded[3]],
        );
        assert.equal(page.next_page, null);
        const many = Array.from({ length: 101 }, (_, index) => `file_${index}`);
        await rejectsWith(lister.beta.files.list({ ids: many }), 400, 'invalid_request_error');
        const duplicates = [...Array.from({ length: 100 }, (_, index) => `file_${index}`), 'file_0'];
        assert.equal((await lister.beta.files.list({ ids: duplicates })).data.length, 0, '100 after de-duplication is fine');
        await rejectsWith(lister.beta.files.list({ ids: [uploaded[0]!], limit: 5 }), 400, 'invalid_request_error');
        await rejectsWith(lister.beta.files.list({ ids: [uploaded[0]!], page: 'x' }), 400, 'invalid_request_error');
      });

      it('[FILE-17] older SDKs: after_id / before_id and has_more / first_id / last_id', async () => {
        const newestFirst = [...uploaded].reverse();
        const get = (query: string) => fetch(`${oma.url}/v1/files?${query}`, { headers: { authorization: `Bearer ${listerKey}` } });
        const firstPage = (await (await get('limit=10')).json()) as { data: { id: string }[]; has_more: boolean; first_id: string; last_id: string };
        assert.equal(firstPage.has_more, true);
        assert.equal(firstPage.first_id, newestFirst[0]);
        assert.equal(firstPage.last_id, newestFirst[9]);
        const after = (await (await get(`limit=10&after_id=${firstPage.last_id}`)).json()) as typeof firstPage;
        assert.deepEqual(
          after.data.map((file) => file.id),
          newestFirst.slice(10, 20),
        );
        const tail = (await (await get(`limit=10&after_id=${newestFirst[19]}`)).json()) as typeof firstPage;
        assert.deepEqual(
          tail.data.map((file) => file.id),
          newestFirst.slice(20),
        );
        assert.equal(tail.has_more, false);
        const before = (await (await get(`limit=3&before_id=${newestFirst[10]}`)).json()) as typeof firstPage;
        assert.deepEqual(
          before.data.map((file) => file.id),
          newestFirst.slice(7, 10),
        );
        assert.equal(before.has_more, true);
        assert.equal((await get(`after_id=${newestFirst[1]}&before_id=${newestFirst[5]}`)).status, 400);
      });

      it('[FILE-8] scope_id: only files scoped to that id; uploads have scope null', async () => {
        assert.equal((await lister.beta.files.list({ scope_id: 'sesn_none' })).data.length, 0);
        // A session output file, as sessions store it (the back door: there is no public scoped upload).
        await oma.db.query(`UPDATE files SET scope_type = 'session', scope_id = 'sesn_test' WHERE id = $1`, [uploaded[5]]);
        const scoped = await lister.beta.files.list({ scope_id: 'sesn_test' });
        assert.deepEqual(
          scoped.data.map((file) => [file.id, file.scope]),
          [[uploaded[5], { type: 'session', id: 'sesn_test' }]],
        );
        assert.deepEqual((await lister.beta.files.retrieveMetadata(uploaded[5]!)).scope, { type: 'session', id: 'sesn_test' });
        assert.equal((await lister.beta.files.retrieveMetadata(uploaded[6]!)).scope, null);
      });
    });

    describe('workspaces', () => {
      it("[FILE-10] another workspace's file is a 404 on retrieve, download and delete, and absent from its list", async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('secret'), 'mine.txt') });
        await rejectsWith(other.beta.files.retrieveMetadata(file.id), 404, 'not_found_error');
        await rejectsWith(other.beta.files.download(file.id), 404, 'not_found_error');
        await rejectsWith(other.beta.files.delete(file.id), 404, 'not_found_error');
        assert.ok(!(await allIds(other)).includes(file.id));
        assert.equal((await other.beta.files.list({ ids: [file.id] })).data.length, 0);
        assert.equal(await (await client.beta.files.download(file.id)).text(), 'secret', 'still there for its owner');
      });
    });

    describe('expiry and downloadability', () => {
      it('[FILE-14] expires_in_seconds sets expires_at; out of range is a 400', async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('short-lived'), 'tmp.txt'), expires_in_seconds: 3600 });
        assert.match(file.expires_at ?? '', TIMESTAMP);
        assert.equal(Date.parse(file.expires_at!) - Date.parse(file.created_at), 3600 * 1000);
        const longest = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'long.txt'), expires_in_seconds: 7_776_000 });
        assert.equal(Date.parse(longest.expires_at!) - Date.parse(longest.created_at), 7_776_000 * 1000);
        for (const seconds of [3599, 7_776_001]) {
          await rejectsWith(
            client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'bad.txt'), expires_in_seconds: seconds }),
            400,
            'invalid_request_error',
          );
        }
      });

      it('[FILE-14] after expires_at, download is a 404 file_expired, the metadata stays, and the bytes are freed', async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('short-lived'), 'tmp.txt'), expires_in_seconds: 3600 });
        await oma.db.query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = $1`, [file.id]);
        await assert.rejects(client.beta.files.download(file.id), (error: unknown) => {
          assert.ok(error instanceof Anthropic.FileExpiredError, String(error));
          assert.equal(error.status, 404);
          assert.equal(error.errorCode, 'file_expired');
          return true;
        });
        assert.equal((await client.beta.files.retrieveMetadata(file.id)).filename, 'tmp.txt');
        await client.beta.files.upload({ file: await toFile(Buffer.from('y'), 'next.txt') }); // frees expired bytes
        const { rows } = await oma.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM file_chunks WHERE file_id = $1', [file.id]);
        assert.equal(rows[0]!.n, 0);
      });

      it('[FILE-15] a file that is not downloadable: 400 file_not_downloadable', async () => {
        const file = await client.beta.files.upload({ file: await toFile(Buffer.from('x'), 'locked.txt') });
        await oma.db.query('UPDATE files SET downloadable = false WHERE id = $1', [file.id]);
        assert.equal((await client.beta.files.retrieveMetadata(file.id)).downloadable, false);
        await assert.rejects(client.beta.files.download(file.id), (error: unknown) => {
          assert.ok(error instanceof Anthropic.FileNotDownloadableError, String(error));
          assert.equal(error.status, 400);
          return true;
        });
      });
    });
  });
}
