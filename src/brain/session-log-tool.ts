import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import type { StoredEvent } from '../session/interface.ts';
import { isInternalEvent, renderEvent } from '../sessions/render.ts';
import { PRIVATE_KEY } from './history.ts';

/**
 * `read_session_log`: a built-in tool the brain runs on the host, so the model can re-read what
 * compaction summarised or trimming replaced by a placeholder. It returns positional slices of the
 * session's own log, as clients see it: internal events (`oma.*`) are skipped, private data (`_oma`)
 * is never shown, and `#N` is an event's 1-based position among the public events (`events.list`
 * order). It only reads; the log is never edited.
 */

export const SESSION_LOG_TOOL = 'read_session_log';

const ACTIONS = ['get', 'before', 'around', 'search'] as const;
type Action = (typeof ACTIONS)[number];
const FIELDS = ['action', 'event_id', 'count', 'types', 'text', 'offset', 'max_chars'];
/** In slices (before/around/search), each event's content is cut to this many characters. */
const SNIPPET_CHARS = 1500;
/** Room kept in a slice's budget for its first and last lines. */
const NOTES_CHARS = 300;

export const SESSION_LOG_DEFINITION: Tool = {
  name: SESSION_LOG_TOOL,
  description:
    "Read this session's own event log: every message, tool call, tool result and status change so far, as the client sees it. " +
    'Use it when something you need is no longer in your context: earlier turns were summarised (context compacted), or a tool ' +
    'result shows a placeholder such as "[tool result trimmed from this view: …; event sevt_… — read it with read_session_log]". ' +
    'Events are numbered #1, #2, … in log order. Actions: "get" returns one event whole (long content is paged with offset and ' +
    'max_chars); "before" the `count` events before event_id (or the newest `count` events); "around" the `count` events centred on ' +
    'event_id (e.g. a tool call and its result); "search" events matching `types` and/or `text`, newest first (pass the oldest id ' +
    'shown as event_id to see older matches). In lists each event is cut to ~1,500 characters: "get" it to read it whole.',
  input_schema: {
    type: 'object',
    properties: {
      action: { type: 'string', enum: [...ACTIONS], description: 'get: one event whole; before / around: neighbouring events; search: events by type and/or text' },
      event_id: { type: 'string', description: 'An event id (sevt_…). Required for get and around; for before and search, look only before this event' },
      count: { type: 'integer', minimum: 1, maximum: 50, description: 'How many events (before, around, search). Default 10' },
      types: { type: 'array', items: { type: 'string' }, description: 'Only events of these types, e.g. ["agent.tool_use", "agent.tool_result"] (before, around, search)' },
      text: { type: 'string', description: 'search only: case-insensitive text the event content must contain' },
      offset: { type: 'integer', minimum: 0, description: 'get only: the first character of the content to return. Default 0' },
      max_chars: { type: 'integer', minimum: 100, maximum: 50000, description: 'Longest answer, in characters. Default 8000' },
    },
    required: ['action'],
    additionalProperties: false,
  },
};

interface Query {
  action: Action;
  eventId?: string;
  count: number;
  types?: ReadonlySet<string>;
  text?: string;
  offset: number;
  maxChars: number;
}

/** A public event and its 1-based position among the public events. */
interface Item {
  position: number;
  event: StoredEvent;
}

class InvalidInput extends Error {}

/** Pure: the tool's answer for `input` over the session's events (all of them, in seq order, internal ones included: skip those). */
export function readSessionLog(events: readonly StoredEvent[], input: Record<string, unknown>): { text: string; isError: boolean } {
  try {
    const query = parse(input);
    const items = events.filter((event) => !isInternalEvent(event.type)).map((event, index) => ({ position: index + 1, event }));
    const anchor = query.eventId === undefined ? undefined : items.findIndex((item) => item.event.id === query.eventId);
    if (anchor === -1) throw new InvalidInput(`\`event_id\`: no event ${query.eventId} in this session's log (ids look like sevt_…; use "before" or "search" to find one)`);
    if (query.action === 'get') return { text: get(items[anchor!]!, query), isError: false };
    const text = slice(items, anchor, query); // a last resort for a tiny max_chars: cut the answer itself
    return { text: text.length > query.maxChars ? `${text.slice(0, query.maxChars - 1)}…` : text, isError: false };
  } catch (error) {
    if (error instanceof InvalidInput) return { text: `${SESSION_LOG_TOOL}: ${error.message}`, isError: true };
    throw error;
  }
}

function parse(input: Record<string, unknown>): Query {
  const fail = (message: string): never => { throw new InvalidInput(message); };
  const unknown = Object.keys(input).find((key) => !FIELDS.includes(key));
  if (unknown !== undefined) fail(`unknown field \`${unknown}\`; the fields are ${FIELDS.join(', ')}`);
  const action = input.action as Action;
  if (!ACTIONS.includes(action)) fail(`\`action\` must be one of ${ACTIONS.map((name) => `"${name}"`).join(', ')} (got ${JSON.stringify(input.action) ?? 'nothing'})`);
  const integer = (key: string, min: number, max: number, fallback: number): number => {
    const value = input[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(`\`${key}\` must be an integer ${max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`} (got ${JSON.stringify(value)})`);
    }
    return value as number;
  };
  const eventId = input.event_id;
  if (eventId !== undefined && (typeof eventId !== 'string' || eventId.trim() === '')) fail(`\`event_id\` must be an event id string such as "sevt_…" (got ${JSON.stringify(eventId)})`);
  if (eventId === undefined && (action === 'get' || action === 'around')) fail(`\`event_id\` is required for action "${action}": the id (sevt_…) of the event to read`);
  let types: Set<string> | undefined;
  if (input.types !== undefined) {
    if (action === 'get') fail('`types` filters "before", "around" and "search"; "get" reads the one event `event_id` names');
    if (!Array.isArray(input.types) || input.types.length === 0) fail('`types` must be a non-empty array of event types, e.g. ["agent.tool_use"]');
    (input.types as unknown[]).forEach((type, index) => {
      if (typeof type !== 'string' || !/^[a-z_]+\.[a-z_]+$/.test(type)) fail(`\`types[${index}]\` must be an event type such as "agent.tool_result" (got ${JSON.stringify(type)})`);
    });
    types = new Set(input.types as string[]);
  }
  const text = input.text;
  if (text !== undefined) {
    if (action !== 'search') fail(`\`text\` is only for action "search" (got action "${action}")`);
    if (typeof text !== 'string' || text === '') fail(`\`text\` must be a non-empty string (got ${JSON.stringify(text)})`);
  }
  if (action === 'search' && !types && text === undefined) fail('action "search" needs `types` and/or `text` (to list recent events, use "before")');
  const offset = integer('offset', 0, Infinity, 0);
  if (offset > 0 && action !== 'get') fail(`\`offset\` pages through one event's content: it is only for action "get" (got action "${action}")`);
  const count = integer('count', 1, 50, 10);
  const maxChars = integer('max_chars', 100, 50000, 8000);
  return { action, eventId: eventId as string | undefined, count, types, text: text as string | undefined, offset, maxChars };
}

/** `get`: one event's content, from `offset`, at most `max_chars` of it. */
function get(item: Item, query: Query): string {
  const content = renderContent(item.event);
  const total = content.length;
  if (total === 0) return `${header(item)}\n(no content)`;
  if (query.offset >= total) throw new InvalidInput(`\`offset\` ${query.offset} is past the end: event ${item.event.id} has ${total} characters (offsets 0 to ${total - 1})`);
  const end = Math.min(total, query.offset + query.maxChars);
  const where = end < total ? `next offset: ${end}` : query.offset === 0 ? 'whole' : 'end';
  return `${header(item)}\ncharacters ${query.offset}–${end} of ${total} (${where})\n${content.slice(query.offset, end)}`;
}

/** `before`, `around` and `search`: a list of events, each cut to a snippet, within `max_chars`. */
function slice(items: Item[], anchor: number | undefined, query: Query): string {
  const { action, count, types, text } = query;
  const at = anchor === undefined ? undefined : items[anchor]!;
  const place = at ? ` ${action === 'around' ? 'around' : 'before'} #${at.position} ${at.event.id}` : '';
  const kind = (n: number) => `${types ? `${[...types].join(' / ')} ` : ''}${n === 1 ? 'event' : 'events'}`;
  const matches = (item: Item) => (!types || types.has(item.event.type)) && (!text || renderContent(item.event).toLowerCase().includes(text.toLowerCase()));
  let shown: Item[];
  let priority: number[];
  let intro: string;
  let rest = 0; // further candidates, beyond those shown, in the direction one pages to
  if (action === 'around') {
    const candidates = items.filter((item, index) => index === anchor || matches(item));
    const center = candidates.indexOf(at!);
    const start = Math.max(0, Math.min(center - Math.floor((count - 1) / 2), candidates.length - count));
    shown = candidates.slice(start, start + count);
    priority = [center - start];
    for (let step = 1; priority.length < shown.length; step++) priority.push(...[center - start + step, center - start - step].filter((i) => i >= 0 && i < shown.length));
    intro = `${shown.length} ${kind(shown.length)}${place}, oldest first:`;
  } else {
    const candidates = items.slice(0, anchor ?? items.length).filter(matches);
    if (action === 'search') candidates.reverse();
    shown = action === 'search' ? candidates.slice(0, count) : candidates.slice(-count);
    rest = candidates.length - shown.length;
    priority = shown.map((_item, index) => (action === 'search' ? index : shown.length - 1 - index));
    const filter = (n: number) => (text === undefined ? kind(n) : `${kind(n)} containing "${text}"`);
    intro = action === 'search' ? `${shown.length} ${filter(shown.length)}${place}, newest first:` : at ? `${shown.length} ${kind(shown.length)}${place}, oldest first:` : `The last ${shown.length} ${kind(shown.length)} of the log (${items.length} in all), oldest first:`;
    if (shown.length === 0) return action === 'search' ? `No ${filter(0)}${place}.` : `No ${kind(0)}${place}${at ? '' : ' in the log yet'}.`;
  }
  // Most relevant first, while the answer stays within max_chars (the first always, cut if need be).
  const snippet = Math.min(SNIPPET_CHARS, Math.max(200, query.maxChars - NOTES_CHARS * 2));
  const entries = shown.map((item) => entry(item, snippet));
  const kept = new Set<number>();
  let used = intro.length + NOTES_CHARS;
  for (const index of priority) {
    if (kept.size > 0 && used + entries[index]!.length + 2 > query.maxChars) break;
    kept.add(index);
    used += entries[index]!.length + 2;
  }
  const body = entries.filter((_entry, index) => kept.has(index));
  const notes: string[] = [];
  const dropped = shown.length - kept.size;
  if (dropped > 0) notes.push(`(${dropped} of these ${shown.length} events left out to keep the answer under max_chars=${query.maxChars}; ask for a smaller count, or a larger max_chars.)`);
  const edge = shown.find((_item, index) => kept.has(index) && !(action === 'before' ? kept.has(index - 1) : kept.has(index + 1)))!;
  const more = rest + (action === 'around' ? 0 : dropped);
  if (action === 'before' && more > 0) notes.push(`${more} earlier ${kind(more)}: use action "before" with event_id ${edge.event.id} to read them.`);
  if (action === 'search' && more > 0) notes.push(`${more} older ${more === 1 ? 'match' : 'matches'}: search again with event_id ${edge.event.id} to see them.`);
  return [intro, ...body, ...notes].join('\n\n');
}

const header = (item: Item) => `#${item.position} ${item.event.id} ${item.event.type} ${item.event.createdAt.toISOString()}`;

/** An event in a list: its header and its content, cut to `limit` characters. */
function entry(item: Item, limit: number): string {
  const content = renderContent(item.event);
  if (content === '') return header(item);
  const cut = content.length > limit ? `${content.slice(0, limit)}… (${content.length - limit} more characters: get event ${item.event.id} to read it whole)` : content;
  return `${header(item)}\n${cut}`;
}

/** JSON without private data at any depth. */
const json = (value: unknown) => JSON.stringify(value, (key, inner) => (key === PRIVATE_KEY ? undefined : inner));

/** Content blocks (spec §5.4) as text: text blocks' text, the others as a short bracketed note. */
function blocks(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((block: Record<string, unknown>) => {
      if (block?.type === 'text') return String(block.text ?? '');
      if (block?.type === 'document') return block.title ? `[document ${block.title}]` : '[document]';
      if (block?.type === 'search_result') return `[search result ${block.title ?? ''} ${block.source ?? ''}]\n${blocks(block.content)}`;
      return `[${block?.type ?? 'unknown'}]`;
    })
    .join('\n');
}

const RESULT_REFERENCES: Record<string, string> = {
  'agent.tool_result': 'tool_use_id',
  'user.tool_result': 'tool_use_id',
  'user.custom_tool_result': 'custom_tool_use_id',
  'agent.mcp_tool_result': 'mcp_tool_use_id',
};

/** An event's content as the model reads it: compact, public data only (the header carries id, type and time). */
export function renderContent(event: StoredEvent): string {
  const { id: _id, type, processed_at: _processed, ...payload } = renderEvent(event) as Record<string, any>;
  const reference = RESULT_REFERENCES[type];
  if (reference) return [`result of ${payload[reference]}, is_error: ${payload.is_error === true}`, blocks(payload.content)].filter(Boolean).join('\n');
  switch (type) {
    case 'agent.thinking':
      return '(thinking, not shown)';
    case 'agent.tool_use':
    case 'agent.mcp_tool_use':
    case 'agent.custom_tool_use': {
      const server = payload.mcp_server_name ? ` (MCP server ${payload.mcp_server_name})` : '';
      const permission = payload.evaluated_permission ? `, permission: ${payload.evaluated_permission}` : '';
      return `tool: ${payload.name}${server}${permission}\ninput: ${json(payload.input ?? {})}`;
    }
    case 'user.message':
    case 'agent.message':
    case 'system.message':
      return blocks(payload.content);
    case 'agent.thread_message_sent':
      return `to ${payload.to_agent_name ?? payload.to_session_thread_id}:\n${blocks(payload.content)}`;
    case 'agent.thread_message_received':
      return `from ${payload.from_agent_name ?? payload.from_session_thread_id}:\n${blocks(payload.content)}`;
    case 'session.error':
      return `${payload.error?.type}: ${payload.error?.message} (retry_status: ${payload.error?.retry_status?.type})`;
    case 'session.status_idle': {
      const ids = payload.stop_reason?.event_ids?.length ? ` (${payload.stop_reason.event_ids.join(', ')})` : '';
      return `stop reason: ${payload.stop_reason?.type}${ids}`;
    }
    case 'span.model_request_end': {
      const usage = payload.model_usage ?? {};
      const error = payload.is_error === true ? ', is_error: true' : '';
      return `usage: input ${usage.input_tokens ?? 0}, output ${usage.output_tokens ?? 0}, cache read ${usage.cache_read_input_tokens ?? 0}, cache write ${usage.cache_creation_input_tokens ?? 0}${error}`;
    }
  }
  if (type.startsWith('span.')) return '';
  const rest = json(payload);
  return rest === '{}' ? '' : rest;
}
