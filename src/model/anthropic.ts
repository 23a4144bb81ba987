import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { ModelError, modelErrorKind } from './errors.ts';
import type { Model, ModelRequest } from './interface.ts';

/** How long one call may take before the SDK gives up: long, since a turn can stream for minutes. */
const TIMEOUT_MS = 10 * 60 * 1000;

/**
 * The Messages API through the official SDK. Retries are off: the brain retries, by `ModelError` kind.
 *
 * Failures, as `ModelError` kinds:
 * - the caller's `signal` (before or during the stream) → `aborted`;
 * - no connection, a timeout, or a connection cut mid-stream (the body ends without its chunked
 *   terminator) → `connection`; a body that ends *cleanly* without `message_stop` is not an error
 *   here: the iteration just ends, and the consumer detects the dropped stream;
 * - an HTTP error answer → `modelErrorKind(status, type, message)`, with `retryAfterMs` from
 *   `retry-after`; an `error` event mid-stream → the kind of its `type` (no status);
 * - no API key configured → `authentication`, saying ANTHROPIC_API_KEY is not set.
 */
export class AnthropicModel implements Model {
  readonly #options: { apiKey?: string; baseURL?: string };
  #client: Anthropic | undefined;

  constructor(options: { apiKey?: string; baseURL?: string; client?: Anthropic } = {}) {
    this.#options = { apiKey: options.apiKey, baseURL: options.baseURL };
    this.#client = options.client;
  }

  /** Made on first use, so a server without a key starts and fails only the calls it makes. */
  #getClient(): Anthropic {
    if (!this.#client) {
      // Unset options are left out, so the SDK reads ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL itself.
      const { apiKey, baseURL } = this.#options;
      this.#client = new Anthropic({ ...(apiKey !== undefined && { apiKey }), ...(baseURL !== undefined && { baseURL }), maxRetries: 0, timeout: TIMEOUT_MS });
    }
    return this.#client;
  }

  async *stream(request: ModelRequest, options: { signal?: AbortSignal } = {}): AsyncGenerator<RawMessageStreamEvent> {
    const { signal } = options;
    if (signal?.aborted) throw aborted();
    try {
      const stream = await this.#getClient().messages.create({ ...request, stream: true }, { signal });
      for await (const event of stream) {
        if ((event as { type: string }).type === 'ping') continue;
        yield event;
      }
    } catch (error) {
      throw toModelError(error, signal);
    }
    // The SDK ends the iteration quietly when its request is aborted mid-body.
    if (signal?.aborted) throw aborted();
  }

  /** The Messages API's `count_tokens` for what the request sends (its model, system, tools and messages). */
  async countTokens(request: ModelRequest, options: { signal?: AbortSignal } = {}): Promise<number> {
    const { model, messages, system, tools, tool_choice, thinking } = request;
    try {
      const counted = await this.#getClient().messages.countTokens({ model, messages, system, tools, tool_choice, thinking } as Parameters<Anthropic['messages']['countTokens']>[0], { signal: options.signal, timeout: 30_000 });
      return counted.input_tokens;
    } catch (error) {
      throw toModelError(error, options.signal);
    }
  }
}

const aborted = (cause?: unknown) => new ModelError('aborted', 'the model call was aborted', { cause });

export function toModelError(error: unknown, signal?: AbortSignal): ModelError {
  if (error instanceof ModelError) return error;
  if (signal?.aborted || error instanceof APIUserAbortError) return aborted(error);
  // APIConnectionTimeoutError is an APIConnectionError.
  if (error instanceof APIConnectionError) return new ModelError('connection', `model API connection failed: ${error.message}`, { cause: error });
  if (error instanceof APIError) {
    const body = error.error as { error?: { type?: string; message?: string } } | undefined;
    const type = error.type ?? body?.error?.type;
    const message = error.apiMessage ?? body?.error?.message ?? error.message;
    return new ModelError(modelErrorKind(error.status, type ?? undefined, message), error.message, {
      status: error.status,
      retryAfterMs: retryAfterMs(error.headers),
      cause: error,
    });
  }
  const message = (error as Error)?.message ?? String(error);
  if (/could not resolve authentication method/i.test(message)) {
    return new ModelError('authentication', 'ANTHROPIC_API_KEY is not set: the model API needs a key', { cause: error });
  }
  if (error instanceof SyntaxError) return new ModelError('server', `model API sent a malformed stream: ${message}`, { cause: error });
  // Anything else comes from reading the body: fetch's "terminated", a reset socket.
  return new ModelError('connection', `model API connection failed: ${message}`, { cause: error });
}

/** `retry-after-ms`, or `retry-after` in seconds or as an HTTP date. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
