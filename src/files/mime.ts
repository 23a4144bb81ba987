/**
 * The few media types oma names by file extension: to fill in a `mime_type` when the upload says only
 * `application/octet-stream` (what undici sends for a `File` without a type), and to name an upload
 * that came without a filename (`unnamed.pdf`). Not a content sniffer: an unknown extension stays
 * `application/octet-stream`.
 */

const TYPES: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  html: 'text/html',
  css: 'text/css',
  xml: 'application/xml',
  json: 'application/json',
  jsonl: 'application/jsonl',
  yaml: 'application/yaml',
  js: 'text/javascript',
  ts: 'text/plain',
  py: 'text/x-python',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

const ALIASES: Record<string, string> = { jpeg: 'image/jpeg', htm: 'text/html', yml: 'application/yaml', mjs: 'text/javascript' };

const EXTENSIONS: Record<string, string> = Object.fromEntries(
  Object.entries(TYPES)
    .filter(([extension]) => extension !== 'ts')
    .map(([extension, type]) => [type, extension]),
);

export const OCTET_STREAM = 'application/octet-stream';

/** The media type for `filename`'s extension, or undefined when oma does not know it. */
export function typeForFilename(filename: string): string | undefined {
  const dot = filename.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const extension = filename.slice(dot + 1).toLowerCase();
  return TYPES[extension] ?? ALIASES[extension];
}

/** `.ext` for a media type (parameters ignored), or `''` when oma does not know one. */
export function extensionForType(mimeType: string): string {
  const essence = mimeType.split(';')[0]!.trim().toLowerCase();
  const extension = EXTENSIONS[essence];
  return extension ? `.${extension}` : '';
}
