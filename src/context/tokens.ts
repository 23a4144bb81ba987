import type { StoredEvent } from '../session/interface.ts';

/**
 * Token estimates. oma has no tokenizer: an estimate is a quarter of the JSON length, then scaled
 * by the session's calibration (the model's own counts over these estimates, folded from the log),
 * or replaced by the model's `count_tokens` when it matters. Estimates decide when to trim and
 * compact; a model that still refuses a prompt as too long corrects them (brain/context.ts).
 */

export const CHARS_PER_TOKEN = 4;

/** What an image is counted as: the API's most for one image (about 1.15 megapixels). */
const IMAGE_TOKENS = 1_600;
/** Base64 characters per token of an inlined PDF (a page is roughly 2,000 tokens and 60 KB). */
const DOCUMENT_CHARS_PER_TOKEN = 30;
/** A document named by a file id whose content is not at hand. */
const UNKNOWN_DOCUMENT_TOKENS = 3_000;

/** Contents of files named by id, as the request inlines them (base64). */
export type FileContents = ReadonlyMap<string, { mediaType: string; data: string }>;

/**
 * Raw (uncalibrated) tokens of any JSON value: its JSON length over four, except images and PDFs,
 * inlined (base64) or named by file id, whose size in characters says little about their tokens.
 * (Native `JSON.stringify`, then a walk of the content blocks only: this runs on every request.)
 */
export function rawTokens(value: unknown, files?: FileContents): number {
  if (value === undefined) return 0;
  const media = { tokens: 0, chars: 0 };
  visitMedia(value, files, media);
  return Math.ceil((JSON.stringify(value).length - media.chars) / CHARS_PER_TOKEN) + media.tokens;
}

type Node = { type?: string; source?: { type?: string; data?: unknown; file_id?: string; media_type?: string }; content?: unknown; messages?: unknown };

/** Images and documents in requests, messages and content arrays (tool results nest theirs). */
function visitMedia(node: unknown, files: FileContents | undefined, media: { tokens: number; chars: number }) {
  if (Array.isArray(node)) {
    for (const item of node) visitMedia(item, files, media);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const { type, source, content, messages } = node as Node;
  if (messages) visitMedia(messages, files, media);
  if (Array.isArray(content)) visitMedia(content, files, media);
  if ((type !== 'image' && type !== 'document') || (source?.type !== 'base64' && source?.type !== 'file')) return;
  const file = source.type === 'file' ? files?.get(source.file_id ?? '') : undefined;
  const data = source.type === 'base64' ? String(source.data ?? '') : file?.data;
  const mediaType = source.type === 'base64' ? source.media_type : file?.mediaType;
  if (source.type === 'base64') media.chars += data!.length; // its characters are not its tokens
  if (type === 'image') media.tokens += IMAGE_TOKENS;
  else if (data === undefined) media.tokens += UNKNOWN_DOCUMENT_TOKENS;
  // Text documents are sent as text (a quarter of their bytes); PDFs by their pages.
  else media.tokens += mediaType === 'application/pdf' ? Math.ceil(data.length / DOCUMENT_CHARS_PER_TOKEN) : Math.ceil((data.length * 3) / 4 / CHARS_PER_TOKEN);
}

export function calibrated(raw: number, calibration: number | undefined): number {
  return Math.ceil(raw * (calibration ?? 1));
}

/** Private data of an event (never shown to clients). */
const own = (event: StoredEvent) => (event.payload._oma ?? {}) as Record<string, unknown>;

/** What of an event goes into a request (the same parts `buildMessages` reads). */
export function requestPart(event: StoredEvent): unknown {
  const payload = event.payload;
  switch (event.type) {
    case 'agent.thinking':
      return own(event).blocks;
    case 'agent.tool_use':
    case 'agent.custom_tool_use':
    case 'agent.mcp_tool_use':
      return [payload.name, payload.input];
    case 'agent.message':
    case 'user.message':
    case 'system.message':
    case 'agent.tool_result':
    case 'user.tool_result':
    case 'user.custom_tool_result':
    case 'agent.mcp_tool_result':
      return payload.content;
    case 'user.define_outcome':
      return [payload.description, payload.rubric];
    default:
      return undefined;
  }
}

/** Raw tokens of an event's part of a request, memoised by event id (events never change; nor do files). */
export function eventTokens(event: StoredEvent, memo: Map<string, number>, files?: FileContents): number {
  let size = memo.get(event.id);
  if (size === undefined) {
    size = rawTokens(requestPart(event), files);
    memo.set(event.id, size);
  }
  return size;
}

/**
 * The model's count and window from a "prompt is too long" answer: `prompt is too long: N tokens >
 * M maximum`, or `input length and max_tokens exceed context limit: N + K > M`.
 */
export function parseTooLong(message: string): { tokens?: number; window?: number } {
  const plain = message.match(/prompt is too long:\s*(\d+)\s*tokens?\s*>\s*(\d+)/i);
  if (plain) return { tokens: Number(plain[1]), window: Number(plain[2]) };
  const withOutput = message.match(/exceed context limit:\s*(\d+)\s*\+\s*(\d+)\s*>\s*(\d+)/i);
  if (withOutput) return { tokens: Number(withOutput[1]), window: Number(withOutput[3]) };
  return {};
}
