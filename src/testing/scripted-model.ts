import type { ContentBlock, Message, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ModelError, modelErrorKind } from '../model/errors.ts';
import type { Model, ModelRequest } from '../model/interface.ts';

/**
 * A model that replays scripted responses as the exact event stream the Messages API sends, and
 * records every request. The brain's tests drive it directly; `fake-model-server.ts` serves it over
 * HTTP so the official SDK (and a spawned oma) can talk to it.
 */

export type ScriptBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; name: string; input: Record<string, unknown>; id?: string };

export interface ScriptResponse {
  content: ScriptBlock[];
  /** Default: 'tool_use' when any block is a tool_use, else 'end_turn'. */
  stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'pause_turn' | 'refusal';
  /** Defaults: `estimateTokens` of the request (input) and of the content (output), 0 for the cache counters. */
  usage?: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number };
  /** Wait before the first event (abortable). */
  delay_ms?: number;
  /** Wait between events (abortable). */
  chunk_delay_ms?: number;
  /** Yield this many events, then end without `message_stop` (a dropped stream). Never reaches `message_stop`. */
  drop_after?: number;
  /** After this many events, fail as the API does with a mid-stream `error` event (e.g. `overloaded_error`). */
  error_after?: { events: number; type: string; message?: string };
}

export interface ScriptError {
  error: { status: number; type?: string; message?: string; retry_after_s?: number };
  /** Wait before failing (abortable). */
  delay_ms?: number;
}

export type ScriptStep = ScriptResponse | ScriptError;
export type Script = ScriptStep[] | ((request: ModelRequest, index: number) => ScriptStep | Promise<ScriptStep>);

/** A scripted failure: a `ModelError` that also carries the API's error `type`, so the fake server can send it on. */
export class ScriptedApiError extends ModelError {
  readonly errorType: string;
  constructor(errorType: string, message: string, options: { status?: number; retryAfterMs?: number } = {}) {
    super(modelErrorKind(options.status, errorType, message), message, options);
    this.errorType = errorType;
  }
}

/** The error `type` and default message the API uses for a status. */
export function apiErrorFor(status: number | undefined): { type: string; message: string } {
  const table: Record<number, [string, string]> = {
    400: ['invalid_request_error', 'Invalid request'],
    401: ['authentication_error', 'invalid x-api-key'],
    403: ['permission_error', 'Permission denied'],
    404: ['not_found_error', 'Not found'],
    413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
    429: ['rate_limit_error', 'Rate limited'],
    529: ['overloaded_error', 'Overloaded'],
  };
  const [type, message] = table[status ?? 500] ?? (status !== undefined && status < 500 ? ['invalid_request_error', 'Invalid request'] : ['api_error', 'Internal server error']);
  return { type, message };
}

/** The HTTP status the API answers an error `type` with. */
export function statusForErrorType(type: string): number {
  const table: Record<string, number> = { invalid_request_error: 400, authentication_error: 401, permission_error: 403, not_found_error: 404, request_too_large: 413, rate_limit_error: 429, overloaded_error: 529 };
  return table[type] ?? 500;
}

/** The deterministic token estimate the fakes use: a quarter of the JSON length, rounded up. */
export function estimateTokens(value: unknown): number {
  return Math.ceil(JSON.stringify(value).length / 4);
}

const aborted = () => new ModelError('aborted', 'the model call was aborted');

function sleep(ms: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(aborted());
  if (!ms || ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function randomId(prefix: string): string {
  return prefix + randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22);
}

/** Split by code points, so a chunk never ends inside a surrogate pair. */
function chunks(text: string, size: number): string[] {
  const points = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(''));
  return out;
}

/** The full event sequence the Messages API streams for one scripted response (pings excluded). */
export function scriptEvents(response: ScriptResponse, request: ModelRequest, chunkChars = 16): RawMessageStreamEvent[] {
  const usage = {
    input_tokens: response.usage?.input_tokens ?? estimateTokens(request),
    output_tokens: response.usage?.output_tokens ?? estimateTokens(response.content),
    cache_creation_input_tokens: response.usage?.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: response.usage?.cache_read_input_tokens ?? 0,
  };
  const message: Message = {
    id: randomId('msg_01'),
    type: 'message',
    role: 'assistant',
    model: request.model,
    content: [],
    container: null,
    diagnostics: null,
    stop_reason: null,
    stop_sequence: null,
    stop_details: null,
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      cache_creation: { ephemeral_5m_input_tokens: usage.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 },
      output_tokens: Math.min(1, usage.output_tokens),
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: 'standard',
      inference_geo: null,
      speed: null,
    },
  };
  const events: RawMessageStreamEvent[] = [{ type: 'message_start', message }];
  response.content.forEach((block, index) => {
    let start: ContentBlock;
    const deltas: RawMessageStreamEvent[] = [];
    const delta = (d: Extract<RawMessageStreamEvent, { type: 'content_block_delta' }>['delta']) => deltas.push({ type: 'content_block_delta', index, delta: d });
    switch (block.type) {
      case 'text':
        start = { type: 'text', text: '', citations: null };
        for (const text of chunks(block.text, chunkChars)) delta({ type: 'text_delta', text });
        break;
      case 'thinking':
        start = { type: 'thinking', thinking: '', signature: '' };
        for (const thinking of chunks(block.thinking, chunkChars)) delta({ type: 'thinking_delta', thinking });
        delta({ type: 'signature_delta', signature: block.signature ?? fakeSignature(block.thinking) });
        break;
      case 'redacted_thinking':
        start = { type: 'redacted_thinking', data: block.data };
        break;
      case 'tool_use':
        start = { type: 'tool_use', id: block.id ?? randomId('toolu_01'), name: block.name, input: {}, caller: { type: 'direct' } };
        for (const partial_json of chunks(JSON.stringify(block.input), chunkChars)) delta({ type: 'input_json_delta', partial_json });
        break;
    }
    events.push({ type: 'content_block_start', index, content_block: start }, ...deltas, { type: 'content_block_stop', index });
  });
  const stopReason = response.stop_reason ?? (response.content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn');
  events.push(
    {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null, container: null },
      usage: { ...usage, output_tokens_details: null, server_tool_use: null },
    },
    { type: 'message_stop' },
  );
  return events;
}

/** A deterministic stand-in for a thinking signature (never valid at the real API). */
export function fakeSignature(thinking: string): string {
  return 'sig_' + createHash('sha256').update(thinking).digest('base64url').slice(0, 32);
}

export class ScriptedModel implements Model {
  /** A deep copy of every request, in call order, recorded when the call starts. */
  readonly requests: ModelRequest[] = [];
  readonly #script: Script;
  readonly #whenExhausted: 'error' | 'end_turn';
  readonly #chunkChars: number;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(script: Script, options: { whenExhausted?: 'error' | 'end_turn'; chunkChars?: number } = {}) {
    this.#script = script;
    this.#whenExhausted = options.whenExhausted ?? 'error';
    this.#chunkChars = Math.max(1, options.chunkChars ?? 16);
  }

  stream(request: ModelRequest, options: { signal?: AbortSignal } = {}): AsyncIterable<RawMessageStreamEvent> {
    const index = this.requests.length;
    this.requests.push(structuredClone(request));
    this.#waiters = this.#waiters.filter((waiter) => (waiter.count <= this.requests.length ? (waiter.resolve(), false) : true));
    return this.#run(request, index, options.signal);
  }

  /** Resolves once `count` requests were made; rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs = 5_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`ScriptedModel: ${this.requests.length} of ${count} requests made within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = { count, resolve: () => (clearTimeout(timer), resolve()) };
      this.#waiters.push(entry);
    });
  }

  async *#run(request: ModelRequest, index: number, signal: AbortSignal | undefined): AsyncGenerator<RawMessageStreamEvent> {
    if (signal?.aborted) throw aborted();
    const step = await this.#step(request, index, signal);
    if ('error' in step) {
      await sleep(step.delay_ms, signal);
      const { type, message } = apiErrorFor(step.error.status);
      throw new ScriptedApiError(step.error.type ?? type, step.error.message ?? message, {
        status: step.error.status,
        retryAfterMs: step.error.retry_after_s === undefined ? undefined : step.error.retry_after_s * 1000,
      });
    }
    const events = scriptEvents(step, request, this.#chunkChars);
    let count = events.length;
    if (step.drop_after !== undefined) count = Math.min(step.drop_after, events.length - 1);
    if (step.error_after) count = Math.min(step.error_after.events, events.length - 1);
    await sleep(step.delay_ms, signal);
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(step.chunk_delay_ms, signal);
      if (signal?.aborted) throw aborted();
      yield events[i]!;
    }
    if (step.error_after) {
      await sleep(step.chunk_delay_ms, signal);
      const { type, message } = step.error_after;
      throw new ScriptedApiError(type, message ?? apiErrorFor(statusForErrorType(type)).message);
    }
  }

  async #step(request: ModelRequest, index: number, signal: AbortSignal | undefined): Promise<ScriptStep> {
    if (typeof this.#script === 'function') {
      const script = this.#script;
      // The function may be slow (it may wait on the test); an abort still ends the call promptly.
      let onAbort: (() => void) | undefined;
      const abortedPromise = new Promise<never>((_, reject) => signal?.addEventListener('abort', (onAbort = () => reject(aborted())), { once: true }));
      try {
        return await Promise.race([Promise.resolve().then(() => script(request, index)), abortedPromise]);
      } finally {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      }
    }
    const step = this.#script[index];
    if (step) return step;
    if (this.#whenExhausted === 'end_turn') return { content: [{ type: 'text', text: '(script exhausted)' }] };
    throw new ModelError('invalid_request', `script exhausted after ${this.#script.length} responses`);
  }
}

// ---- JSON scripts ----

const count = z.number().int().nonnegative();
const blockSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string() }),
  z.strictObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() }),
  z.strictObject({ type: z.literal('redacted_thinking'), data: z.string() }),
  z.strictObject({ type: z.literal('tool_use'), name: z.string().min(1), input: z.record(z.string(), z.unknown()), id: z.string().min(1).optional() }),
]);
const responseSchema: z.ZodType<ScriptResponse> = z.strictObject({
  content: z.array(blockSchema),
  stop_reason: z.enum(['end_turn', 'tool_use', 'max_tokens', 'stop_sequence', 'pause_turn', 'refusal']).optional(),
  usage: z
    .strictObject({ input_tokens: count.optional(), output_tokens: count.optional(), cache_creation_input_tokens: count.optional(), cache_read_input_tokens: count.optional() })
    .optional(),
  delay_ms: count.optional(),
  chunk_delay_ms: count.optional(),
  drop_after: count.optional(),
  error_after: z.strictObject({ events: count, type: z.string().min(1), message: z.string().optional() }).optional(),
});
const errorSchema: z.ZodType<ScriptError> = z.strictObject({
  error: z.strictObject({ status: z.number().int().min(400).max(599), type: z.string().min(1).optional(), message: z.string().optional(), retry_after_s: z.number().nonnegative().optional() }),
  delay_ms: count.optional(),
});

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('').replace(/^\./, '');
}

/** Validates a script: a JSON array of steps, or `{"steps": [...]}`. Errors name the path, e.g. `steps[1].content[0].name`. */
export function parseScript(json: unknown): ScriptStep[] {
  const wrapped = typeof json === 'object' && json !== null && !Array.isArray(json);
  const steps = wrapped ? (json as { steps?: unknown }).steps : json;
  const extra = wrapped ? Object.keys(json).filter((key) => key !== 'steps') : [];
  if (!Array.isArray(steps) || extra.length > 0) {
    throw new Error(`invalid script: expected a JSON array of steps or {"steps": [...]}${extra.length ? ` (unknown key "${extra[0]}")` : ''}`);
  }
  return steps.map((step: unknown, index) => {
    const isError = typeof step === 'object' && step !== null && 'error' in step;
    const result = (isError ? errorSchema : responseSchema).safeParse(step);
    if (result.success) return result.data;
    const problems = result.error.issues.slice(0, 3).map((issue) => {
      const path = formatPath([...(wrapped ? ['steps'] : []), index, ...issue.path]);
      return `${path}: ${issue.message}`;
    });
    throw new Error(`invalid script: ${problems.join('; ')}`);
  });
}

/** Reads and validates a JSON script file. */
export function loadScript(file: string): ScriptStep[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read script ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`script ${file} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return parseScript(json);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}
