import { OmaError } from '../errors.ts';
import { extensionForType, OCTET_STREAM, typeForFilename } from './mime.ts';
import { multipartBoundary, readMultipart, type PartHeaders } from './multipart.ts';

/**
 * `POST /v1/files` bodies (`FileUploadParams`): a multipart form with one `file` part and an optional
 * `expires_in_seconds` field. The body is parsed as it streams in and the file's bytes are kept in
 * chunks of `CHUNK_BYTES`, ready to be written as `file_chunks` rows in one transaction, so an upload
 * is held in memory once (up to the size limit) and never written half.
 */

/** Size of one stored chunk. */
export const CHUNK_BYTES = 1024 * 1024;
/** Default of `OMA_MAX_FILE_BYTES`. */
export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;
/** `expires_in_seconds` bounds (one hour to ninety days), as the SDK documents them. */
export const MIN_EXPIRES_IN_SECONDS = 3600;
export const MAX_EXPIRES_IN_SECONDS = 7_776_000;

const MAX_FILENAME_CHARS = 500;
const MAX_MIME_TYPE_CHARS = 255;
/** Room in a body for boundaries, part headers and the `expires_in_seconds` field around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
/** Text fields are numbers: anything longer is not one. */
const MAX_FIELD_BYTES = 64;
const MEDIA_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"\r\n]*"|[\w!#$&^.+-]+))*$/;

export interface Upload {
  filename: string;
  mimeType: string;
  sizeBytes: number;
  /** The bytes, in order, each chunk `CHUNK_BYTES` long except the last (none for an empty file). */
  chunks: Buffer[];
  expiresInSeconds: number | undefined;
}

/** `OMA_MAX_FILE_BYTES` (bytes, ≥ 1), default 100 MiB; read when called, so tests can set it. */
export function maxFileBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.OMA_MAX_FILE_BYTES;
  if (value === undefined || value === '') return DEFAULT_MAX_FILE_BYTES;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new OmaError('invalid_request', `OMA_MAX_FILE_BYTES must be a whole number of bytes ≥ 1, not ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** Collects a part's bytes into fixed-size chunks, up to the limit. */
class ChunkCollector {
  readonly chunks: Buffer[] = [];
  size = 0;
  private current = Buffer.allocUnsafe(0);
  private used = 0;

  constructor(private readonly limit: number) {}

  /** Keep `data`; false (keeping nothing more) when it would take the part past the limit. */
  write(data: Uint8Array): boolean {
    if (this.size + data.length > this.limit) return false;
    this.size += data.length;
    let offset = 0;
    while (offset < data.length) {
      if (this.used === this.current.length) {
        if (this.used > 0) this.chunks.push(this.current);
        // Never more than the limit allows, so a small limit costs little memory.
        this.current = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, this.limit - this.chunks.length * CHUNK_BYTES));
        this.used = 0;
      }
      const copied = Math.min(this.current.length - this.used, data.length - offset);
      this.current.set(data.subarray(offset, offset + copied), this.used);
      this.used += copied;
      offset += copied;
    }
    return true;
  }

  finish(): Buffer[] {
    if (this.used > 0) this.chunks.push(this.current.subarray(0, this.used));
    this.current = Buffer.allocUnsafe(0);
    this.used = 0;
    return this.chunks;
  }
}

/** The final path component of a client's filename; absent, empty, `.`, `..` → undefined. */
function baseName(filename: string | undefined): string | undefined {
  const base = filename?.split(/[\\/]/).pop();
  return base === undefined || base === '' || base === '.' || base === '..' ? undefined : base;
}

/**
 * The stored `mime_type`: the part's Content-Type; when that is only `application/octet-stream`
 * (what undici sends for a typeless `File`) or missing, the type of the filename's extension if oma
 * knows it; else `application/octet-stream`, or `text/plain` for a part with no Content-Type at all
 * (RFC 7578 §4.4's default, e.g. `curl -F 'file=<notes'`).
 */
function mimeTypeOf(part: PartHeaders, filename: string | undefined): string {
  const declared = part.contentType?.trim();
  if (declared !== undefined) {
    if (declared.length > MAX_MIME_TYPE_CHARS) throw new OmaError('invalid_request', `file: Content-Type is longer than ${MAX_MIME_TYPE_CHARS} characters`);
    if (!MEDIA_TYPE.test(declared)) throw new OmaError('invalid_request', `file: Content-Type ${JSON.stringify(declared)} is not a media type`);
    if (declared.toLowerCase() !== OCTET_STREAM) return declared;
  }
  return (filename && typeForFilename(filename)) ?? (declared === undefined ? 'text/plain' : OCTET_STREAM);
}

function fileMetadata(part: PartHeaders): { filename: string; mimeType: string } {
  const base = baseName(part.filename);
  if (base !== undefined) {
    if (/[\u0000-\u001f\u007f]/.test(base)) throw new OmaError('invalid_request', 'file: filename must not contain control characters');
    if (base.length > MAX_FILENAME_CHARS) throw new OmaError('invalid_request', `file: filename is longer than ${MAX_FILENAME_CHARS} characters`);
  }
  const mimeType = mimeTypeOf(part, base);
  return { filename: base ?? `unnamed${extensionForType(mimeType)}`, mimeType };
}

function expiresInSeconds(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < MIN_EXPIRES_IN_SECONDS || parsed > MAX_EXPIRES_IN_SECONDS) {
    throw new OmaError(
      'invalid_request',
      `expires_in_seconds must be a whole number of seconds from ${MIN_EXPIRES_IN_SECONDS} to ${MAX_EXPIRES_IN_SECONDS}, not ${JSON.stringify(value.slice(0, MAX_FIELD_BYTES))}`,
    );
  }
  return parsed;
}

/**
 * A request body read through one reader, so that stopping early (a bad part, a file over the limit)
 * does not cancel the stream: the rest is drained before the answer, so the connection stays usable.
 * Past `limit` bytes in all, reading stops with a 413 and the stream is cancelled, which breaks the
 * connection (only a body without Content-Length gets that far): `onAbandon` is told.
 */
class BodyReader {
  private total = 0;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly limit: number,
    private readonly tooLarge: () => OmaError,
    private readonly onAbandon: () => void,
  ) {
    this.reader = body.getReader();
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const { done, value } = await this.reader.read();
      if (done) return;
      this.total += value.length;
      if (this.total > this.limit) throw this.tooLarge();
      yield value;
    }
  }

  /** Read and drop the rest, up to the limit; cancel past it. */
  async drain(): Promise<void> {
    try {
      while (this.total <= this.limit) {
        const { done, value } = await this.reader.read();
        if (done) return;
        this.total += value.length;
      }
      this.onAbandon();
      await this.reader.cancel();
    } catch {
      // the client went away: nothing left to answer
    }
  }
}

async function readParts(chunks: AsyncIterable<Uint8Array>, boundary: string, maxFileBytes: number, tooLarge: () => OmaError) {
  let file: { part: PartHeaders; collector: ChunkCollector } | undefined;
  let expires: string | undefined;
  let field: { name: string; bytes: Buffer[]; size: number } | undefined;

  for await (const event of readMultipart(chunks, boundary)) {
    if (event.type === 'part') {
      const { name } = event.headers;
      if (name === 'file') {
        if (file) throw new OmaError('invalid_request', 'the request has more than one `file` part; upload one file per request');
        file = { part: event.headers, collector: new ChunkCollector(maxFileBytes) };
      } else if (name === 'expires_in_seconds') {
        if (expires !== undefined) throw new OmaError('invalid_request', `${name} was given more than once`);
        field = { name, bytes: [], size: 0 };
      } else {
        throw new OmaError('invalid_request', `unknown form field ${JSON.stringify(name)}: an upload takes \`file\` and \`expires_in_seconds\``);
      }
    } else if (event.type === 'data') {
      if (field) {
        field.size += event.data.length;
        if (field.size > MAX_FIELD_BYTES) throw new OmaError('invalid_request', `${field.name} is not a number of seconds`);
        field.bytes.push(Buffer.from(event.data));
      } else if (file && !file.collector.write(event.data)) {
        throw tooLarge();
      }
    } else if (field) {
      expires = Buffer.concat(field.bytes).toString('utf8').trim();
      field = undefined;
    }
  }
  return { file, expires };
}

/**
 * Read and check an upload. 400: not multipart, malformed, no `file` part, two of them, an unknown
 * field, a bad `expires_in_seconds`, filename or Content-Type. 413 (`request_too_large`) when the
 * file passes `maxFileBytes`, found by the Content-Length before reading or as the bytes arrive.
 * `onAbandon` is called when the rest of a failed upload is left unread and the connection cannot be
 * reused (the caller should answer with `Connection: close`).
 */
export async function readUpload(request: Request, options: { maxFileBytes: number; onAbandon?: () => void }): Promise<Upload> {
  const boundary = multipartBoundary(request.headers.get('content-type') ?? undefined);
  const tooLarge = () => new OmaError('request_too_large', `the file is larger than the limit of ${options.maxFileBytes} bytes`);
  const bodyLimit = options.maxFileBytes + MULTIPART_OVERHEAD_BYTES;
  if (Number(request.headers.get('content-length') ?? 0) > bodyLimit) {
    options.onAbandon?.(); // the unread body makes the connection unusable for a next request
    throw tooLarge();
  }
  if (!request.body) throw new OmaError('invalid_request', 'the request has no `file` part (the body is empty)');

  const body = new BodyReader(request.body, bodyLimit, tooLarge, options.onAbandon ?? (() => {}));
  let parsed: Awaited<ReturnType<typeof readParts>>;
  try {
    parsed = await readParts(body.chunks(), boundary, options.maxFileBytes, tooLarge);
  } catch (error) {
    await body.drain();
    throw error;
  }
  const { file, expires } = parsed;
  if (!file) throw new OmaError('invalid_request', 'the request has no `file` part');
  return {
    ...fileMetadata(file.part),
    sizeBytes: file.collector.size,
    chunks: file.collector.finish(),
    expiresInSeconds: expires === undefined ? undefined : expiresInSeconds(expires),
  };
}
