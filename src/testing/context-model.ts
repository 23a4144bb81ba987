import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { createHash } from 'node:crypto';
import type { Model, ModelRequest } from '../model/interface.ts';
import { ScriptedApiError } from './scripted-model.ts';

/**
 * A test double that wraps any `Model` and behaves like the Messages API with respect to the
 * context window and prompt caching: requests above the window are refused with the API's own
 * "prompt is too long" error, and the usage reported is the one the API's prefix cache would give
 * (`cache_read_input_tokens` / `cache_creation_input_tokens` / uncached `input_tokens`). Every call
 * leaves a `ContextReport`, so the brain's context strategies (compaction, trimming, cache layout)
 * can be tested and benchmarked.
 *
 * Its tokenizer is deliberately not oma's estimate (characters / 4): by default it counts
 * characters / 3, so a strategy that trusts its own estimate without calibrating overflows.
 */

export interface ContextModelOptions {
  /** Requests whose tokens exceed this are refused, as the API does. */
  window: number;
  /** Characters per token of this fake tokenizer (default 3; oma's own estimate uses 4, so it must calibrate). */
  charsPerToken?: number;
  /** How many blocks before each cache breakpoint the cache looks back for a hit (default 20, as the API). */
  lookback?: number;
  /**
   * Count `max_tokens` in the window too, as newer models do: a request whose input plus `max_tokens`
   * passes the window is refused with "input length and `max_tokens` exceed context limit: N + K > M".
   */
  countMaxTokens?: boolean;
}

export interface ContextReport {
  /** Input tokens of the request as this model counts them. */
  tokens: number;
  /** Refused as too long (then no usage). */
  refused: boolean;
  /** Bytes of the canonical serialization (blocks joined with "\n"), and how many of them from the start equal the previous request's. */
  totalBytes: number;
  sharedPrefixBytes: number;
  /** sharedPrefixBytes / totalBytes (0 for the first request). */
  prefixRatio: number;
  /** Usage as reported: cache_read_input_tokens, cache_creation_input_tokens, input_tokens (the uncached rest). */
  cacheRead: number;
  cacheWrite: number;
  uncached: number;
  /** Number of cache_control breakpoints in the request. */
  breakpoints: number;
}

const DEFAULT_CHARS_PER_TOKEN = 3;
const DEFAULT_LOOKBACK = 20;

/** JSON of a block without its top-level `cache_control`, and whether it had one. */
function canonical(block: unknown, prefix = ''): { text: string; marked: boolean } {
  if (!block || typeof block !== 'object') return { text: prefix + JSON.stringify(block), marked: false };
  const { cache_control, ...rest } = block as Record<string, unknown>;
  return { text: prefix + JSON.stringify(rest), marked: cache_control != null };
}

/**
 * The request as cacheable blocks, in the API's cache order: each tool definition, then each
 * system block, then each message's content blocks. A string `system` or message `content` counts
 * as one text block. The first block after a role change carries the role (`user: {...}`);
 * consecutive same-role messages serialize as one turn, as the API merges them. Each block is JSON
 * without its `cache_control` key; `breakpoints` are the indexes of the blocks that had one.
 */
export function cacheBlocks(request: ModelRequest): { blocks: string[]; breakpoints: number[] } {
  const blocks: string[] = [];
  const breakpoints: number[] = [];
  const add = ({ text, marked }: { text: string; marked: boolean }) => {
    if (marked) breakpoints.push(blocks.length);
    blocks.push(text);
  };
  for (const tool of request.tools ?? []) add(canonical(tool));
  const system = typeof request.system === 'string' ? [{ type: 'text', text: request.system }] : (request.system ?? []);
  for (const block of system) add(canonical(block));
  let role: string | undefined;
  for (const message of request.messages) {
    const content = typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
    for (const block of content) {
      add(canonical(block, message.role !== role ? `${message.role}: ` : ''));
      role = message.role;
    }
  }
  return { blocks, breakpoints };
}

/** Tokens of `chars` characters: rounded up. */
const tokensOf = (chars: number, charsPerToken: number) => Math.ceil(chars / charsPerToken);

/** Tokens of a request: total characters of `cacheBlocks` plus the model id, / charsPerToken, rounded up. */
export function requestTokens(request: ModelRequest, charsPerToken = DEFAULT_CHARS_PER_TOKEN): number {
  const chars = cacheBlocks(request).blocks.reduce((sum, block) => sum + block.length, 0);
  return tokensOf(chars + request.model.length, charsPerToken);
}

/** The chained prefix hashes: hashes[i] identifies blocks[0..i]. */
function prefixHashes(blocks: string[]): string[] {
  let previous = '';
  return blocks.map((block) => (previous = createHash('sha256').update(previous).update(block).digest('hex')));
}

function commonPrefixLength(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  while (i < max && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export class ContextLimitedModel implements Model {
  /** One per `stream()` call, in call order (refused calls included). */
  readonly reports: ContextReport[] = [];
  /** The context window in tokens; tests may change it mid-run. */
  window: number;
  readonly #inner: Model;
  readonly #charsPerToken: number;
  readonly #lookback: number;
  /** See `ContextModelOptions.countMaxTokens`; tests may change it mid-run. */
  countMaxTokens: boolean;
  /** Prefix hashes that ended at a breakpoint of an answered request. */
  readonly #cache = new Set<string>();
  /** The canonical serialization of the last request that was not refused. */
  #previous: string | undefined;

  constructor(inner: Model, options: ContextModelOptions) {
    this.#inner = inner;
    this.window = options.window;
    this.#charsPerToken = options.charsPerToken ?? DEFAULT_CHARS_PER_TOKEN;
    this.#lookback = options.lookback ?? DEFAULT_LOOKBACK;
    this.countMaxTokens = options.countMaxTokens ?? false;
  }

  /** The same count the window check uses; never throws for size. */
  async countTokens(request: ModelRequest): Promise<number> {
    return requestTokens(request, this.#charsPerToken);
  }

  /**
   * Checks the window and computes the cache usage now (so reports are in call order), then streams
   * the inner model's events with their usage rewritten. A refused request throws from the
   * iteration before any event, and the inner model is not called.
   */
  stream(request: ModelRequest, options: { signal?: AbortSignal } = {}): AsyncIterable<RawMessageStreamEvent> {
    const { blocks, breakpoints } = cacheBlocks(request);
    const tokens = requestTokens(request, this.#charsPerToken);
    const serialized = blocks.join('\n');
    const sharedPrefixBytes = this.#previous === undefined ? 0 : commonPrefixLength(this.#previous, serialized);
    const report: ContextReport = {
      tokens,
      refused: tokens + (this.countMaxTokens ? request.max_tokens : 0) > this.window,
      totalBytes: serialized.length,
      sharedPrefixBytes,
      prefixRatio: this.#previous === undefined || serialized.length === 0 ? 0 : sharedPrefixBytes / serialized.length,
      cacheRead: 0,
      cacheWrite: 0,
      uncached: 0,
      breakpoints: breakpoints.length,
    };
    this.reports.push(report);
    if (report.refused) {
      const message = this.countMaxTokens
        ? `input length and \`max_tokens\` exceed context limit: ${tokens} + ${request.max_tokens} > ${this.window}, decrease input length or \`max_tokens\` and try again`
        : `prompt is too long: ${tokens} tokens > ${this.window} maximum`;
      const error = new ScriptedApiError('invalid_request_error', message, { status: 400 });
      return (async function* (): AsyncGenerator<RawMessageStreamEvent> {
        throw error;
      })();
    }
    this.#previous = serialized;
    const hashes = prefixHashes(blocks);
    Object.assign(report, this.#usage(blocks, hashes, breakpoints, tokens));
    // The cache is written once the request is answered (its `message_start` arrived).
    const remember = () => breakpoints.forEach((b) => this.#cache.add(hashes[b]!));
    return this.#rewrite(this.#inner.stream(request, { signal: options.signal }), report, remember);
  }

  /** The API's prefix-cache answer for one request (see the class comment). */
  #usage(blocks: string[], hashes: string[], breakpoints: number[], tokens: number) {
    const charsUpTo = (last: number) => blocks.slice(0, last + 1).reduce((sum, block) => sum + block.length, 0);
    let hit = -1;
    for (const b of breakpoints) {
      for (let j = b; j >= Math.max(0, b - this.#lookback); j--) {
        if (this.#cache.has(hashes[j]!)) {
          hit = Math.max(hit, j);
          break;
        }
      }
    }
    const lastBreakpoint = breakpoints.length ? Math.max(...breakpoints) : -1;
    const readChars = hit >= 0 ? charsUpTo(hit) : 0;
    const cacheRead = Math.min(tokens, tokensOf(readChars, this.#charsPerToken));
    const writeChars = lastBreakpoint > hit ? charsUpTo(lastBreakpoint) - readChars : 0;
    const cacheWrite = Math.min(tokens - cacheRead, tokensOf(writeChars, this.#charsPerToken));
    return { cacheRead, cacheWrite, uncached: tokens - cacheRead - cacheWrite };
  }

  /** Passes the events through, with usage that `accumulate()` folds to exactly the report's. */
  async *#rewrite(events: AsyncIterable<RawMessageStreamEvent>, report: ContextReport, remember: () => void): AsyncGenerator<RawMessageStreamEvent> {
    const input = { input_tokens: report.uncached, cache_read_input_tokens: report.cacheRead, cache_creation_input_tokens: report.cacheWrite };
    for await (const event of events) {
      if (event.type === 'message_start') {
        remember();
        const usage = { ...event.message.usage, ...input };
        if (usage.cache_creation) usage.cache_creation = { ...usage.cache_creation, ephemeral_5m_input_tokens: report.cacheWrite };
        yield { ...event, message: { ...event.message, usage } };
      } else if (event.type === 'message_delta') {
        const usage = { ...event.usage, ...input } as typeof event.usage & { cache_creation?: { ephemeral_5m_input_tokens: number } | null };
        if (usage.cache_creation) usage.cache_creation = { ...usage.cache_creation, ephemeral_5m_input_tokens: report.cacheWrite };
        yield { ...event, usage };
      } else yield event;
    }
  }
}
