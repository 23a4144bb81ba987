/**
 * Files requirements (spec api-core-index.md "Files", SDK 1.14 `resources/beta/files.d.ts`). Tests
 * cite the id in their name: `[ID] …`. ⚠ marks a choice oma made where the SDK and spec say nothing.
 */
export const filesRequirements: Record<string, string> = {
  'FILE-1':
    'POST /v1/files takes multipart/form-data with a `file` part and answers 200 with BetaFileMetadata, every field present: type "file", id file_…, filename, mime_type, size_bytes, created_at (RFC 3339 ms), downloadable, expires_at (null), scope (null)',
  'FILE-2':
    'filename: only the final path component of the part\'s filename is kept (/ and \\); an absent or empty one becomes "unnamed" + the extension of the stored mime_type when known; over 500 characters or with control characters → 400',
  'FILE-3':
    "mime_type is the part's Content-Type; ⚠ when that is application/octet-stream or absent, the filename extension's type if known, else application/octet-stream (absent Content-Type: text/plain, RFC 7578); a malformed Content-Type → 400",
  'FILE-4': 'GET /v1/files/{id} (retrieveMetadata) returns the same metadata as the upload; an unknown id → 404 not_found_error',
  'FILE-5':
    'GET /v1/files/{id}/content (download) returns exactly the uploaded bytes (binary, several MB, every byte value) with content-type = mime_type, content-length = size_bytes and content-disposition: attachment with the filename (RFC 6266 filename*)',
  'FILE-6':
    'list is a PageCursor ({data, next_page}); ⚠ newest first, default limit 20, limit 1…1000 (else 400); the SDK walks every page with no gap and no duplicate; a foreign page cursor → 400',
  'FILE-7':
    'list ids[]: only those files that exist and are visible, as one page (next_page null); at most 100 after de-duplication; combined with page or limit → 400',
  'FILE-8': 'list scope_id: only files scoped to that id (BetaFileScope, e.g. a session\'s outputs); uploads have scope null',
  'FILE-9':
    'DELETE /v1/files/{id} returns {id, type: "file_deleted"}; afterwards retrieve, download and delete are 404, list omits the file, and its stored bytes are gone',
  'FILE-10': "another workspace's file is a 404 on retrieve, download and delete, and is absent from list (ids included)",
  'FILE-11':
    'a file over OMA_MAX_FILE_BYTES (default 100 MiB, read when the routes are built) → 413 request_too_large and nothing is stored; exactly the limit is accepted',
  'FILE-12':
    'a body that is not multipart, has no `file` part, two `file` parts or an unknown form field → 400 invalid_request_error, and nothing is stored',
  'FILE-13': 'no anthropic-beta header is required (SDK 1.14 sends none on files routes); the older files-api-2025-04-14 beta is accepted too',
  'FILE-14':
    'expires_in_seconds (3600…7776000, else 400) sets expires_at = created_at + seconds; after it passes, download → 404 with error_code file_expired (the SDK\'s FileExpiredError) while the metadata stays, and ⚠ the bytes are freed (lazily, on a later upload)',
  'FILE-15': 'a file stored with downloadable false → download 400 with error_code file_not_downloadable (the SDK\'s FileNotDownloadableError); ⚠ uploads are downloadable (the hosted API allows downloading only tool-made files)',
  'FILE-16':
    'content lives in the database (any process sharing it serves the file): ≤ 1 MiB chunks, in order, written in the same transaction as the metadata; a download streams chunk by chunk',
  'FILE-17':
    'older SDKs\' Page pagination also works: after_id / before_id (not both, not with page), and responses carry has_more, first_id, last_id besides next_page',
  'FILE-18':
    'the multipart reader accepts any split of the body into chunks (a boundary split across reads), a preamble and epilogue, quoted and filename* (RFC 5987) names; a body cut before the closing boundary → 400',
  'FILE-19':
    'src/files/store.ts getFileMetadata(db, workspaceId, id) returns the BetaFileMetadata, and throws OmaError not_found for an unknown id or another workspace\'s file',
};
