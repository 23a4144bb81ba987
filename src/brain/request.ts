import type { ContentBlockParam, MessageParam, TextBlockParam, ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages';
import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { readFileContent } from '../files/store.ts';
import type { ModelRequest } from '../model/interface.ts';
import type { StoredEvent } from '../session/interface.ts';
import { isCompactionSpan, PRIVATE_KEY, PROCESSED } from './history.ts';
import { toolCatalog, type ToolEntry } from './toolset.ts';

/**
 * The request for the next model call, as a pure function of the session's events and its pinned
 * agent: same log, same request, byte for byte. What the model sees is a view of the log — the log
 * itself is never edited to make a request fit.
 */

export interface RequestOptions {
  maxTokens: number;
  /** Content of files named by image/document blocks (`source: {type: "file"}`), by file id. */
  files?: ReadonlyMap<string, { mediaType: string; data: string }>;
  /**
   * A memo kept by the caller across calls on the same growing log (never on a different one):
   * the request comes out the same, but only events after the memo's point are looked at again.
   */
  cache?: MessageCache;
  /** Find an event by id (the caller's index), instead of indexing `events` on every call. */
  lookup?: (id: string) => StoredEvent | undefined;
  /** The tools offered, when the run knows more than the agent's snapshot says (its MCP servers' tools). */
  catalog?: ReadonlyMap<string, ToolEntry>;
  /** Start at this index of `events` (a compaction's boundary: no tool use is open there). */
  from?: number;
  /**
   * The view's content for an event, when it is not the logged one: a tool result's content, an
   * `agent.thinking`'s blocks, a `user.message`'s content (trimmed or cut to fit). Undefined: as logged.
   */
  rewrite?: (event: StoredEvent) => ContentBlockParam[] | undefined;
  /** Names `from` and `rewrite`: a cache made under another key is started afresh. */
  viewKey?: string;
}

/** Messages of a prefix of the log that later events cannot change (see `buildMessages`). */
export interface MessageCache {
  upTo: number;
  items: Item[];
  key?: string;
}

export function newMessageCache(): MessageCache {
  return { upTo: 0, items: [] };
}


export interface AgentSnapshot {
  model: { id: string; speed?: string; effort?: { type: string }; inference_geo?: string } | string;
  system?: string | null;
  tools?: unknown;
  mcp_servers?: unknown;
}

export function buildRequest(events: readonly StoredEvent[], agent: AgentSnapshot, options: RequestOptions): ModelRequest {
  const model = typeof agent.model === 'string' ? { id: agent.model } : agent.model;
  const tools = [...(options.catalog ?? toolCatalog(agent)).values()].map((entry) => entry.definition);
  const request: ModelRequest = { model: model.id, max_tokens: options.maxTokens, messages: buildMessages(events, options) };
  if (agent.system) request.system = agent.system;
  if (tools.length > 0) request.tools = tools;
  // Only what differs from the Messages API's own defaults, so older models keep working.
  if (model.effort && model.effort.type !== 'high') request.output_config = { effort: model.effort.type as 'low' };
  if (model.speed === 'fast') request.speed = 'fast';
  if (model.inference_geo) request.inference_geo = model.inference_geo;
  return request;
}

interface Item {
  role: MessageParam['role'];
  blocks: ContentBlockParam[];
}

/**
 * Messages from events. A model response's blocks (its thinking, messages and tool uses, in order)
 * form one assistant turn; a response that failed before producing a tool use is left out (the
 * retry answers instead). Every tool use is followed, in the next user turn and in tool-use order,
 * by its result — the first one recorded — and then by the messages the brain took since.
 */
export function buildMessages(events: readonly StoredEvent[], options: Pick<RequestOptions, 'files' | 'cache' | 'lookup' | 'from' | 'rewrite' | 'viewKey'> = {}): MessageParam[] {
  if (options.cache && options.cache.key !== options.viewKey) Object.assign(options.cache, newMessageCache(), { key: options.viewKey });
  const start = options.from ?? 0;
  const cache = options.cache && options.cache.upTo <= events.length && options.cache.upTo >= start ? options.cache : undefined;
  const from = cache?.upTo ?? start;
  const rewrite = options.rewrite ?? (() => undefined);
  let lookup = options.lookup;
  if (!lookup) {
    const byId = new Map(events.map((event) => [event.id, event]));
    lookup = (id) => byId.get(id);
  }
  const results = new Map<string, ToolResultBlockParam>();
  for (let index = from; index < events.length; index++) {
    const event = events[index]!;
    const useId = resultReference(event);
    if (useId && !results.has(useId)) results.set(useId, toolResult(useId, event, options, rewrite(event)));
  }
  const items: Item[] = cache ? [...cache.items] : [];
  // Tool uses since `from` still without a result: while there are none at the start of a request,
  // nothing after it can change the messages before it — a point the cache may move to.
  const unanswered = new Set<string>();
  let response: { blocks: ContentBlockParam[]; toolUses: string[] } | undefined;
  const closeResponse = (keep: boolean) => {
    if (response && (keep || response.toolUses.length > 0)) {
      items.push({ role: 'assistant', blocks: response.blocks });
      if (response.toolUses.length > 0) {
        items.push({
          role: 'user',
          blocks: response.toolUses.map((id) => results.get(id) ?? { type: 'tool_result', tool_use_id: id, is_error: true, content: 'No result was recorded for this tool call.' }),
        });
      }
    }
    response = undefined;
  };
  for (let index = from; index < events.length; index++) {
    const event = events[index]!;
    const payload = event.payload;
    const answers = resultReference(event);
    if (answers) unanswered.delete(answers);
    if (event.type.startsWith('span.model_request') && isCompactionSpan(event)) continue;
    switch (event.type) {
      case 'span.model_request_start':
        closeResponse(false);
        if (options.cache && unanswered.size === 0) {
          options.cache.upTo = index;
          options.cache.items = [...items];
        }
        response = { blocks: [], toolUses: [] };
        break;
      case 'span.model_request_end':
        closeResponse(payload.is_error !== true);
        break;
      case 'agent.thinking':
        for (const block of rewrite(event) ?? ((payload[PRIVATE_KEY] as { blocks?: ContentBlockParam[] } | undefined)?.blocks ?? [])) response?.blocks.push(block);
        break;
      case 'agent.message':
        for (const block of payload.content as { type: string; text?: string }[]) {
          if (block.type === 'text' && block.text) response?.blocks.push({ type: 'text', text: block.text });
        }
        break;
      case 'user.define_outcome': {
        const rubric = payload.rubric as { type: string; content?: string; file_id?: string };
        const criteria = rubric.type === 'text' ? rubric.content : `(the rubric is file ${rubric.file_id})`;
        items.push({ role: 'user', blocks: [{ type: 'text', text: `Work until this outcome is achieved: ${payload.description as string}\n\nRubric:\n${criteria}` }] });
        break;
      }
      case 'agent.tool_use':
      case 'agent.custom_tool_use':
      case 'agent.mcp_tool_use':
        if (response) {
          // An MCP tool's name as the model knows it (the server's name in front when another tool had it).
          const name = (payload[PRIVATE_KEY] as { tool_name?: string } | undefined)?.tool_name ?? (payload.name as string);
          response.blocks.push({ type: 'tool_use', id: event.id, name, input: payload.input as Record<string, unknown> });
          response.toolUses.push(event.id);
          unanswered.add(event.id);
        }
        break;
      case PROCESSED: {
        // Markers are written between responses: one after an unended response means its brain died.
        closeResponse(false);
        const taken = lookup(payload.event_id as string);
        if (taken?.type === 'user.message') items.push({ role: 'user', blocks: userContent(rewrite(taken) ?? (taken.payload.content as ContentBlockParam[]), options) });
        // A mid-conversation system turn, as the Messages API takes it (newer models only: older ones answer 400).
        if (taken?.type === 'system.message') items.push({ role: 'system', blocks: (taken.payload.content as TextBlockParam[]).map(({ type, text }) => ({ type, text })) });
        break;
      }
    }
  }
  closeResponse(false);
  return merge(items);
}

/** Consecutive turns of one role become one message (the API alternates roles). */
function merge(items: Item[]): MessageParam[] {
  const messages: MessageParam[] = [];
  for (const item of items) {
    if (item.blocks.length === 0) continue;
    const last = messages.at(-1);
    if (last && last.role === item.role) (last.content as ContentBlockParam[]).push(...item.blocks);
    else messages.push({ role: item.role, content: [...item.blocks] } as MessageParam);
  }
  return messages;
}

function resultReference(event: StoredEvent): string | undefined {
  switch (event.type) {
    case 'agent.tool_result':
    case 'user.tool_result':
      return event.payload.tool_use_id as string;
    case 'user.custom_tool_result':
      return event.payload.custom_tool_use_id as string;
    case 'agent.mcp_tool_result':
      return event.payload.mcp_tool_use_id as string;
    default:
      return undefined;
  }
}

function toolResult(useId: string, event: StoredEvent, options: Pick<RequestOptions, 'files'>, rewritten?: ContentBlockParam[]): ToolResultBlockParam {
  // Empty text blocks are refused by the API: drop them (an empty result is no content at all).
  const content = userContent(rewritten ?? (event.payload.content as ContentBlockParam[] | undefined) ?? [], options).filter((block) => block.type !== 'text' || block.text !== '');
  const block: ToolResultBlockParam = { type: 'tool_result', tool_use_id: useId };
  if (content.length > 0) block.content = content as ToolResultBlockParam['content'];
  if (event.payload.is_error === true) block.is_error = true;
  return block;
}

/** Client content as the Messages API takes it: files named by id are inlined from `files`. */
function userContent(blocks: ContentBlockParam[], options: Pick<RequestOptions, 'files'>): ContentBlockParam[] {
  return blocks.map((block) => {
    const source = (block as { source?: { type: string; file_id?: string } }).source;
    if ((block.type !== 'image' && block.type !== 'document') || source?.type !== 'file') return block;
    const file = options.files?.get(source.file_id!);
    if (!file) return { type: 'text', text: `[file ${source.file_id} is no longer available]` };
    // Text documents go as text: the API takes base64 documents only as PDFs.
    if (block.type === 'document' && isText(file.mediaType)) {
      return { ...block, source: { type: 'text', media_type: 'text/plain', data: Buffer.from(file.data, 'base64').toString('utf8') } } as ContentBlockParam;
    }
    return { ...block, source: { type: 'base64', media_type: file.mediaType, data: file.data } } as ContentBlockParam;
  });
}

function isText(mediaType: string): boolean {
  return mediaType.startsWith('text/') || /^application\/(json|xml|x-yaml|yaml|csv)\b/.test(mediaType) || mediaType.endsWith('+json') || mediaType.endsWith('+xml');
}

/** File ids that `buildMessages` would inline: the caller loads them first. */
export function referencedFiles(events: readonly StoredEvent[]): string[] {
  const ids = new Set<string>();
  for (const event of events) {
    for (const block of (event.payload.content as { source?: { type: string; file_id?: string } }[] | undefined) ?? []) {
      if (block?.source?.type === 'file' && block.source.file_id) ids.add(block.source.file_id);
    }
  }
  return [...ids];
}

/** Contents of the files a conversation names, read once per run (a file that cannot be read is left out, and said so in the request). */
export class ConversationFiles {
  private readonly cache = new Map<string, { mediaType: string; data: string }>();

  constructor(
    private readonly db: Db,
    private readonly session: { id: string; workspaceId: string },
    private readonly logger?: Logger,
  ) {}

  async load(events: readonly StoredEvent[]): Promise<ReadonlyMap<string, { mediaType: string; data: string }> | undefined> {
    const ids = referencedFiles(events);
    if (ids.length === 0) return undefined;
    for (const id of ids) {
      if (this.cache.has(id)) continue;
      try {
        const { file, bytes } = await readFileContent(this.db, this.session.workspaceId, id);
        this.cache.set(id, { mediaType: file.mime_type, data: bytes.toString('base64') });
      } catch (error) {
        this.logger?.warn({ sessionId: this.session.id, fileId: id, err: error }, 'a file named in the conversation could not be read');
      }
    }
    return this.cache;
  }
}
