import type { MessageCreateParamsBase, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';

/**
 * The model: one streamed Messages API call. This is the whole interface the brain uses; retries,
 * backoff and accumulation into events are the brain's, so every implementation stays minimal.
 *
 * Contract for every implementation:
 * - `stream` yields the raw Messages API stream events in wire order (`message_start`,
 *   `content_block_start` / `_delta` / `_stop` per block, `message_delta`, `message_stop`); `ping`
 *   events are not yielded.
 * - A failure before the first event, or an `error` event mid-stream, is thrown as a `ModelError`
 *   (see `./errors.ts`) from the iteration. A stream that simply ends without `message_stop` is a
 *   dropped stream: the consumer detects it (see `accumulate.ts`).
 * - `signal` aborts the call promptly (well under a second, including any delay the implementation
 *   is in); the iteration then throws a `ModelError` of kind `aborted`.
 * - The request is passed on unchanged: the `model` string, tool names and schemas, and message text
 *   are never rewritten or validated against a list.
 */
export interface Model {
  stream(request: ModelRequest, options?: { signal?: AbortSignal }): AsyncIterable<ModelStreamEvent>;
  /**
   * Optional: the input tokens `request` would use, as the model counts them (the Messages API's
   * `count_tokens`). Failures are thrown as `ModelError`s; the brain then estimates instead.
   */
  countTokens?(request: ModelRequest, options?: { signal?: AbortSignal }): Promise<number>;
}

/** A Messages API request body, without `stream` (always streamed). */
export type ModelRequest = Omit<MessageCreateParamsBase, 'stream'>;

/** One raw Messages API stream event. */
export type ModelStreamEvent = RawMessageStreamEvent;
