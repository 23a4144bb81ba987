import { OmaError } from '../errors.ts';

/**
 * A streaming `multipart/form-data` reader (RFC 7578), so an upload is never held twice in memory and
 * an oversized part can be refused as its bytes arrive. It yields, in body order, a `part` event with
 * the part's headers, then that part's bytes as `data` events (any number, possibly none), then
 * `end`. Anything that is not well-formed multipart is a 400.
 */

export interface PartHeaders {
  /** The form field name (`Content-Disposition: form-data; name="…"`). */
  name: string;
  /** The `filename` parameter, if the part has one (it may be empty). */
  filename: string | undefined;
  /** The part's `Content-Type`, trimmed, if present. */
  contentType: string | undefined;
}

export type MultipartEvent = { type: 'part'; headers: PartHeaders } | { type: 'data'; data: Uint8Array } | { type: 'end' };

/** Longest header block of one part accepted: field names and filenames are short. */
const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

const malformed = (why: string) => new OmaError('invalid_request', `request body is not valid multipart/form-data: ${why}`);

/** The boundary of a `multipart/form-data` content type, or a 400 saying the body must be one. */
export function multipartBoundary(contentType: string | undefined): string {
  const match = /^\s*multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '');
  const boundary = match && /(?:^|;)\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(match[1]!);
  if (!boundary) {
    throw new OmaError('invalid_request', 'request body must be multipart/form-data (with a boundary) holding a `file` part');
  }
  return boundary[1] ?? boundary[2]!;
}

/**
 * `name="…"`-style parameters of a header value. Backslashes are literal, as form writers (HTML,
 * undici) send them, so a Windows path survives to have its last component taken; the `%22`, `%0D`,
 * `%0A` escapes those writers use for `"`, CR and LF are undone.
 */
function headerParameters(value: string): Map<string, string> {
  const parameters = new Map<string, string>();
  const pattern = /;\s*([^\s=;]+)\s*=\s*(?:"([^"]*)"|([^;]*))/g;
  for (const match of value.matchAll(pattern)) {
    const key = match[1]!.toLowerCase();
    const raw = match[2] ?? match[3]!.trim();
    if (!parameters.has(key)) parameters.set(key, raw.replace(/%22/g, '"').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n'));
  }
  return parameters;
}

/** RFC 5987 `filename*=UTF-8''…`, when a client sends it instead of (or besides) `filename`. */
function extendedValue(value: string | undefined): string | undefined {
  const match = value === undefined ? null : /^utf-8'[^']*'(.*)$/i.exec(value);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    throw malformed('filename* is not valid percent-encoded UTF-8');
  }
}

function parseHeaders(block: Buffer): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of block.toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed(`bad part header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-disposition') disposition = value;
    else if (name === 'content-type') contentType = value;
  }
  if (!disposition || !/^form-data\s*(;|$)/i.test(disposition)) throw malformed('a part has no Content-Disposition: form-data header');
  const parameters = headerParameters(disposition);
  const name = parameters.get('name');
  if (name === undefined) throw malformed('a part has no field name');
  const filename = extendedValue(parameters.get('filename*')) ?? parameters.get('filename');
  return { name, filename, contentType: contentType || undefined };
}

/**
 * Read `body` as multipart with `boundary`. The consumer must take every event (breaking out early
 * leaves the rest of the request unread). Throws 400 on a malformed body, including one that ends
 * before the closing boundary.
 */
export async function* readMultipart(body: AsyncIterable<Uint8Array>, boundary: string): AsyncGenerator<MultipartEvent> {
  // Every delimiter is CRLF + "--" + boundary; a CRLF put in front of the body makes the first one
  // look the same (RFC 2046 §5.1.1: the CRLF belongs to the delimiter, not to the part before it).
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buffer: Buffer = Buffer.from(CRLF);
  let state: 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'done' = 'preamble';

  const take = (length: number) => {
    buffer = buffer.subarray(length);
  };

  for await (const chunk of body) {
    if (state === 'done') continue; // the epilogue is ignored
    buffer = buffer.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([buffer, chunk]);
    for (;;) {
      if (state === 'preamble') {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          take(Math.max(0, buffer.length - delimiter.length + 1));
          break;
        }
        take(at + delimiter.length);
        state = 'after-delimiter';
      } else if (state === 'after-delimiter') {
        // "--" closes the body; otherwise optional whitespace, then CRLF, then a part's headers.
        if (buffer.length < 2) break;
        if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
          state = 'done';
          break;
        }
        const lineEnd = buffer.indexOf(CRLF);
        if (lineEnd < 0) {
          if (buffer.length > 256) throw malformed('junk after a boundary');
          break;
        }
        if (buffer.subarray(0, lineEnd).toString('latin1').trim() !== '') throw malformed('junk after a boundary');
        take(lineEnd + 2);
        state = 'headers';
      } else if (state === 'headers') {
        if (buffer.length < 2) break;
        if (buffer[0] === 0x0d && buffer[1] === 0x0a) throw malformed('a part has no headers');
        const end = buffer.indexOf(HEADER_END);
        if (end < 0) {
          if (buffer.length > MAX_HEADER_BYTES) throw malformed(`part headers longer than ${MAX_HEADER_BYTES} bytes`);
          break;
        }
        if (end > MAX_HEADER_BYTES) throw malformed(`part headers longer than ${MAX_HEADER_BYTES} bytes`);
        const headers = parseHeaders(buffer.subarray(0, end));
        take(end + HEADER_END.length);
        state = 'body';
        yield { type: 'part', headers };
      } else if (state === 'body') {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          // Keep a tail that could be the start of a delimiter split across chunks.
          const safe = buffer.length - delimiter.length + 1;
          if (safe > 0) {
            yield { type: 'data', data: buffer.subarray(0, safe) };
            take(safe);
          }
          break;
        }
        if (at > 0) yield { type: 'data', data: buffer.subarray(0, at) };
        take(at + delimiter.length);
        state = 'after-delimiter';
        yield { type: 'end' };
      } else {
        break;
      }
    }
  }
  if (state !== 'done') throw malformed(state === 'preamble' ? 'no boundary found' : 'the body ends before the closing boundary');
}
