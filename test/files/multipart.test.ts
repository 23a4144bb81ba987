import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isOmaError } from '../../src/errors.ts';
import { multipartBoundary, readMultipart, type PartHeaders } from '../../src/files/multipart.ts';

/** The streaming multipart reader on its own: bodies cut into reads every possible way. */

interface ParsedPart {
  headers: PartHeaders;
  body: Buffer;
}

async function* inPieces(body: Buffer, sizes: () => number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < body.length; ) {
    const size = Math.max(1, sizes());
    yield new Uint8Array(body.subarray(offset, offset + size));
    offset += size;
  }
}

async function parse(body: Buffer, boundary: string, sizes: () => number = () => body.length): Promise<ParsedPart[]> {
  const parts: ParsedPart[] = [];
  let current: { headers: PartHeaders; pieces: Buffer[] } | undefined;
  for await (const event of readMultipart(inPieces(body, sizes), boundary)) {
    if (event.type === 'part') {
      assert.equal(current, undefined, 'a part starts only after the previous one ended');
      current = { headers: event.headers, pieces: [] };
    } else if (event.type === 'data') {
      current!.pieces.push(Buffer.from(event.data));
    } else {
      parts.push({ headers: current!.headers, body: Buffer.concat(current!.pieces) });
      current = undefined;
    }
  }
  return parts;
}

const BOUNDARY = '----formdata-test-0123456789';

function form(parts: { headers: string[]; body: Buffer | string }[], { preamble = '', epilogue = '' } = {}): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble)];
  for (const part of parts) {
    pieces.push(Buffer.from(`--${BOUNDARY}\r\n${part.headers.join('\r\n')}\r\n\r\n`), Buffer.from(part.body), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n${epilogue}`));
  return Buffer.concat(pieces);
}

describe('multipart reader', () => {
  // A payload full of near-boundaries: CRLF, "--", and the boundary minus its last character.
  const tricky = Buffer.concat([randomBytes(3000), Buffer.from(`\r\n--${BOUNDARY.slice(0, -1)}X\r\n--\r\n`), randomBytes(3000)]);
  const body = form(
    [
      { headers: ['Content-Disposition: form-data; name="file"; filename="dir/ré sumé.bin"', 'Content-Type: application/octet-stream'], body: tricky },
      { headers: ['content-disposition: form-data; name=expires_in_seconds'], body: '3600' },
      { headers: ['Content-Disposition: form-data; name="empty"; filename=""'], body: '' },
    ],
    { preamble: 'ignored preamble\r\n', epilogue: 'ignored epilogue' },
  );

  const expectParts = (parts: ParsedPart[]) => {
    assert.equal(parts.length, 3);
    assert.deepEqual(parts[0]!.headers, { name: 'file', filename: 'dir/ré sumé.bin', contentType: 'application/octet-stream' });
    assert.ok(parts[0]!.body.equals(tricky), 'the payload comes back byte for byte');
    assert.deepEqual(parts[1]!.headers, { name: 'expires_in_seconds', filename: undefined, contentType: undefined });
    assert.equal(parts[1]!.body.toString(), '3600');
    assert.deepEqual(parts[2]!.headers, { name: 'empty', filename: '', contentType: undefined });
    assert.equal(parts[2]!.body.length, 0);
  };

  it('[FILE-18] reads a body delivered in one piece, one byte at a time, and in random pieces', async () => {
    expectParts(await parse(body, BOUNDARY));
    expectParts(await parse(body, BOUNDARY, () => 1));
    for (let round = 0; round < 20; round++) expectParts(await parse(body, BOUNDARY, () => 1 + Math.floor(Math.random() * 97)));
  });

  it('[FILE-18] every split point of the body gives the same parts', async () => {
    const small = form([{ headers: ['Content-Disposition: form-data; name="file"; filename="a.txt"'], body: 'hello\r\n-- world' }]);
    for (let cut = 1; cut < small.length; cut++) {
      let first = true;
      const parts = await parse(small, BOUNDARY, () => {
        const size = first ? cut : small.length;
        first = false;
        return size;
      });
      assert.equal(parts.length, 1, `cut at ${cut}`);
      assert.equal(parts[0]!.body.toString(), 'hello\r\n-- world', `cut at ${cut}`);
    }
  });

  it('[FILE-18] undoes the %22/%0D/%0A escapes, keeps backslashes, and prefers filename*', async () => {
    const parts = await parse(
      form([
        { headers: ['Content-Disposition: form-data; name="file"; filename="say %22hi%22.txt"'], body: 'a' },
        { headers: ['Content-Disposition: form-data; name="file"; filename="C:\\Users\\me\\report.pdf"'], body: 'b' },
        { headers: [`Content-Disposition: form-data; name="file"; filename="fallback.txt"; filename*=UTF-8''%E2%82%AC%20rates.txt`], body: 'c' },
      ]),
      BOUNDARY,
    );
    assert.deepEqual(
      parts.map((part) => part.headers.filename),
      ['say "hi".txt', 'C:\\Users\\me\\report.pdf', '€ rates.txt'],
    );
  });

  it('[FILE-18] a body cut before the closing boundary, or without form-data headers, is a 400', async () => {
    const whole = form([{ headers: ['Content-Disposition: form-data; name="file"; filename="a.txt"'], body: 'hello' }]);
    const cases: [string, Buffer][] = [
      ['cut short', whole.subarray(0, whole.length - 10)],
      ['no boundary at all', Buffer.from('just some text')],
      ['no Content-Disposition', form([{ headers: ['Content-Type: text/plain'], body: 'x' }])],
      ['no headers', Buffer.from(`--${BOUNDARY}\r\n\r\nx\r\n--${BOUNDARY}--`)],
      ['no field name', form([{ headers: ['Content-Disposition: form-data; filename="a.txt"'], body: 'x' }])],
    ];
    for (const [label, body] of cases) {
      await assert.rejects(parse(body, BOUNDARY), (error: unknown) => isOmaError(error, 'invalid_request'), label);
    }
  });

  it('[FILE-18] the boundary comes from the content type, quoted or not; anything else is a 400', () => {
    assert.equal(multipartBoundary('multipart/form-data; boundary=----formdata-undici-0123'), '----formdata-undici-0123');
    assert.equal(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), 'a b:c');
    for (const contentType of [undefined, 'application/json', 'multipart/form-data', 'multipart/mixed; boundary=x', 'text/plain; boundary=x']) {
      assert.throws(() => multipartBoundary(contentType), (error: unknown) => isOmaError(error, 'invalid_request'), String(contentType));
    }
  });
});
