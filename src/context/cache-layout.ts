import type { ContentBlockParam, MessageParam, TextBlockParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { ModelRequest } from '../model/interface.ts';

/**
 * Prompt-cache breakpoints. The request is already laid out as a stable prefix — tools, system, then
 * the conversation in append-only order — so consecutive requests of a session share everything but
 * their newest turn. The breakpoints (the API takes four) make that prefix cached and found again:
 *
 * 1. the end of the fixed part (the system prompt, or the last tool): shared by every request;
 * 2. the compaction summary, when there is one: shared until the next compaction, even when
 *    trimming changes what follows it;
 * 3. the end of the previous request's input (the last block of the user turn before the newest
 *    answer): what the previous request wrote to the cache, read back exactly, however many blocks
 *    the newest turn added (the API looks back only 20 blocks from a breakpoint);
 * 4. the end of this request: written now, read by the next one.
 *
 * Pure: the request is copied where it changes.
 */

const EPHEMERAL = { type: 'ephemeral' } as const;

/** Blocks that may carry `cache_control` (thinking blocks may not). */
const CACHEABLE = new Set(['text', 'image', 'document', 'tool_use', 'tool_result', 'search_result']);

export function layoutForCache(request: ModelRequest, options: { summary?: boolean } = {}): ModelRequest {
  const laidOut: ModelRequest = { ...request };
  if (typeof request.system === 'string' && request.system !== '') {
    laidOut.system = [{ type: 'text', text: request.system, cache_control: EPHEMERAL }];
  } else if (Array.isArray(request.system) && request.system.length > 0) {
    laidOut.system = markLast(request.system as TextBlockParam[]) as TextBlockParam[];
  } else if (request.tools && request.tools.length > 0) {
    laidOut.tools = [...request.tools.slice(0, -1), { ...(request.tools.at(-1) as Tool), cache_control: EPHEMERAL }];
  }
  const messages = [...request.messages];
  const marks = new Set<number>();
  if (options.summary && messages[0]?.role === 'user') marks.add(0);
  const users = messages.flatMap((message, index) => (message.role === 'user' ? [index] : []));
  const previous = messages.at(-1)?.role === 'user' ? users.at(-2) : users.at(-1);
  if (previous !== undefined) marks.add(previous);
  marks.add(messages.length - 1);
  for (const index of marks) {
    const message = messages[index];
    if (!message) continue;
    // The summary is the first block of the first message; elsewhere the breakpoint ends the message.
    const content = index === 0 && options.summary && index !== previous && index !== messages.length - 1 ? markFirst(blocks(message)) : markLast(blocks(message));
    messages[index] = { ...message, content } as MessageParam;
  }
  laidOut.messages = messages;
  return laidOut;
}

function blocks(message: MessageParam): ContentBlockParam[] {
  return typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
}

/** The last cacheable block gets a breakpoint. */
function markLast(content: ContentBlockParam[]): ContentBlockParam[] {
  for (let index = content.length - 1; index >= 0; index--) {
    if (CACHEABLE.has(content[index]!.type)) return content.map((block, at) => (at === index ? ({ ...block, cache_control: EPHEMERAL } as ContentBlockParam) : block));
  }
  return content;
}

function markFirst(content: ContentBlockParam[]): ContentBlockParam[] {
  const [first, ...rest] = content;
  return first && CACHEABLE.has(first.type) ? [{ ...first, cache_control: EPHEMERAL } as ContentBlockParam, ...rest] : content;
}

/**
 * The request without its cache layout: no `cache_control` anywhere, and a system prompt that was
 * one text block a string again. `withoutCacheLayout(layoutForCache(r))` is `r` for any request
 * built by `buildRequest` (tests compare content with it).
 */
export function withoutCacheLayout(request: ModelRequest): ModelRequest {
  const strip = <T>(block: T): T => {
    if (!block || typeof block !== 'object' || !('cache_control' in block)) return block;
    const { cache_control: _marker, ...rest } = block as T & { cache_control: unknown };
    return rest as T;
  };
  const messages = request.messages.map((message) => (typeof message.content === 'string' ? message : ({ ...message, content: (message.content as ContentBlockParam[]).map(strip) } as MessageParam)));
  const plain: ModelRequest = { ...request, messages };
  if (Array.isArray(request.system)) plain.system = request.system.length === 1 && request.system[0]!.type === 'text' ? request.system[0]!.text : request.system.map(strip);
  if (request.tools) plain.tools = request.tools.map(strip);
  return plain;
}
