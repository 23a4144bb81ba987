import { Hono } from 'hono';
import type { ApiDeps } from '../api/deps.ts';
import type { AppEnv } from '../api/http.ts';
import { keyset, pageRequest, toPage, type PageRequest } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import { OmaError } from '../errors.ts';
import { createFile, deleteFile, getFileMetadata, listFileRows, openFileContent, purgeExpiredFiles, renderFile } from './store.ts';
import { maxFileBytesFromEnv, readUpload } from './upload.ts';

/**
 * `/v1/files` (`client.beta.files.*`): upload (multipart), list, retrieve metadata, download, delete.
 * A general beta: no `anthropic-beta` header is required (SDK 1.14 sends none; older SDKs send
 * `files-api-2025-04-14`, which is accepted like any other).
 */

export interface FileRouteOptions {
  /** Largest accepted file, in bytes. Default: `OMA_MAX_FILE_BYTES`, else 100 MiB. */
  maxFileBytes?: number;
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;
/** Most ids one `ids` list may name (after de-duplication), as the SDK documents. */
const MAX_IDS = 100;

/** `attachment` with the filename twice: an ASCII fallback and the exact UTF-8 name (RFC 6266). */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(filename).replace(/['()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

/** The byte stream of a download, pulled one stored chunk at a time. */
function chunkStream(chunks: AsyncIterable<Uint8Array>, onError: (error: unknown) => void): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        onError(error);
        controller.error(error); // the response is cut short, so the client sees a failed download
      }
    },
    async cancel() {
      await iterator.return?.(undefined);
    },
  });
}

/**
 * The page to read. The SDK (1.14, `PageCursor`) sends `limit` and `page`; older SDKs (`Page`) send
 * `after_id` / `before_id`, which are honoured too, newest first like everything else here.
 */
function listPage(query: Query): PageRequest {
  const afterId = query.string('after_id');
  const beforeId = query.string('before_id');
  if (afterId === undefined && beforeId === undefined) {
    return pageRequest(query, { defaultLimit: DEFAULT_LIMIT, maxLimit: MAX_LIMIT, defaultOrder: 'desc' });
  }
  if (afterId !== undefined && beforeId !== undefined) throw new OmaError('invalid_request', 'give after_id or before_id, not both');
  if (query.string('page') !== undefined) throw new OmaError('invalid_request', 'page cannot be combined with after_id or before_id');
  const limit = query.integer('limit', { min: 1, max: MAX_LIMIT }) ?? DEFAULT_LIMIT;
  return { limit, order: 'desc', after: afterId ?? beforeId, backwards: beforeId !== undefined };
}

export function fileRoutes(deps: ApiDeps, options: FileRouteOptions = {}): Hono<AppEnv> {
  const maxFileBytes = options.maxFileBytes ?? maxFileBytesFromEnv();
  const app = new Hono<AppEnv>();

  app.post('/', async (c) => {
    // A body abandoned half-read leaves the connection unusable: tell the client not to reuse it.
    const upload = await readUpload(c.req.raw, { maxFileBytes, onAbandon: () => c.header('connection', 'close') });
    const file = await createFile(deps.db, {
      workspaceId: c.get('principal').workspaceId,
      filename: upload.filename,
      mimeType: upload.mimeType,
      chunks: upload.chunks,
      expiresInSeconds: upload.expiresInSeconds,
    });
    // Expired bytes are freed a few at a time, here rather than by a timer every process would run.
    await purgeExpiredFiles(deps.db).catch((error: unknown) => deps.logger?.warn({ err: error }, 'purging expired files failed'));
    return c.json(file);
  });

  app.get('/', async (c) => {
    const query = new Query(c);
    const workspaceId = c.get('principal').workspaceId;
    const scopeId = query.string('scope_id');
    const ids = [...new Set(query.list('ids'))];
    if (ids.length > 0) {
      // One page of exactly these files (those that exist, visible to the caller), newest first.
      for (const name of ['page', 'limit', 'after_id', 'before_id']) {
        if (query.string(name) !== undefined) throw new OmaError('invalid_request', `ids cannot be combined with ${name}`);
      }
      if (ids.length > MAX_IDS) throw new OmaError('invalid_request', `ids may name at most ${MAX_IDS} files, not ${ids.length}`);
      const rows = await listFileRows(deps.db, { workspaceId, scopeId, ids }, () => ({ where: 'TRUE', orderBy: 'id DESC', limit: '' }));
      const data = rows.map(renderFile);
      return c.json({ data, next_page: null, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
    }
    const request = listPage(query);
    const rows = await listFileRows(deps.db, { workspaceId, scopeId }, (params) => keyset('id', request, params));
    const page = toPage(rows, request, (row) => row.id, renderFile);
    // `has_more`/`first_id`/`last_id` serve older SDKs' `Page`; SDK 1.14 reads only `next_page`.
    return c.json({
      data: page.data,
      next_page: page.next_page,
      has_more: rows.length > request.limit,
      first_id: page.data[0]?.id ?? null,
      last_id: page.data.at(-1)?.id ?? null,
    });
  });

  app.get('/:file_id', async (c) => c.json(await getFileMetadata(deps.db, c.get('principal').workspaceId, c.req.param('file_id'))));

  app.get('/:file_id/content', async (c) => {
    const { file, chunks } = await openFileContent(deps.db, c.get('principal').workspaceId, c.req.param('file_id'));
    if (!file.downloadable) {
      throw new OmaError('invalid_request', `file ${file.id} is not downloadable`, { details: { error_code: 'file_not_downloadable' } });
    }
    const body = chunkStream(chunks, (error) => deps.logger?.error({ err: error, fileId: file.id, requestId: c.get('requestId') }, 'file download failed'));
    return c.body(body, 200, {
      'content-type': file.mime_type,
      'content-length': String(file.size_bytes),
      'content-disposition': contentDisposition(file.filename),
      // User content: never let a browser reinterpret it.
      'x-content-type-options': 'nosniff',
    });
  });

  app.delete('/:file_id', async (c) => c.json(await deleteFile(deps.db, c.get('principal').workspaceId, c.req.param('file_id'))));

  return app;
}
