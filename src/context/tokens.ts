import type { StoredEvent } from '../session/interface.ts';

/**
 * Token estimates. oma has no tokenizer: an estimate is a quarter of the JSON length, then scaled
 * by the session's calibration (the model's own counts over these estimates, folded from the log),
 * or replaced by the model's `count_tokens` when it matters. Estimates decide when to trim and
 * compact; a model that still refuses a prompt as too long corrects them (brain/context.ts).
 */

export const CHARS_PER_TOKEN = 4;

/** What an inlined image is counted as: the API's most for one image (about 1.15 megapixels). */
const IMAGE_TOKENS = 1_600;
/** Base64 characters per token of an inlined PDF (a page is roughly 2,000 tokens and 60 KB). */
const DOCUMENT_CHARS_PER_TOKEN = 30;

/**
 * Raw (uncalibrated) tokens of any JSON value: its JSON length over four, except inlined images and
 * PDFs, whose base64 says little about their tokens.
 */
export function rawTokens(value: unknown): number {
  if (value === undefined) return 0;
  let media = 0;
  const json = JSON.stringify(value, (key, part: { type?: string; data?: unknown } | undefined) => {
    if (key !== 'source' || part?.type !== 'base64' || typeof part.data !== 'string') return part;
    media += (part as { media_type?: string }).media_type?.startsWith('image/') ? IMAGE_TOKENS : Math.ceil(part.data.length / DOCUMENT_CHARS_PER_TOKEN);
    return { ...part, data: '' };
  });
  return Math.ceil(json.length / CHARS_PER_TOKEN) + media;
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

/** Raw tokens of an event's part of a request, memoised by event id (events never change). */
export function eventTokens(event: StoredEvent, memo: Map<string, number>): number {
  let size = memo.get(event.id);
  if (size === undefined) {
    size = rawTokens(requestPart(event));
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
