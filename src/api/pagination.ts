import { OmaError } from '../errors.ts';
import type { Query } from './query.ts';

/**
 * Keyset pagination behind the SDK's `PageCursor` (`{data, next_page}`) and `BidirectionalPageCursor`
 * (`{data, next_page, prev_page}`). Rows are ordered by a unique, time-ordered key (object ids are),
 * and a cursor is opaque base64url of `{after, order}`: the key to continue after, and the order it
 * belongs to (reusing a cursor with the other order is a 400, as the hosted API does).
 */

export type Order = 'asc' | 'desc';

export interface PageRequest {
  limit: number;
  order: Order;
  /** Continue strictly after this key in `order` (absent: from the start). */
  after: string | number | undefined;
  /** For `prev_page` cursors: walk back, i.e. strictly before this key, then reverse. */
  backwards: boolean;
}

interface Cursor {
  k: string | number;
  o: Order;
  b?: 1;
}

export function encodeCursor(key: string | number, order: Order, backwards = false): string {
  const cursor: Cursor = { k: key, o: order, ...(backwards ? { b: 1 } : {}) };
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(page: string): Cursor {
  try {
    const cursor = JSON.parse(Buffer.from(page, 'base64url').toString('utf8')) as Cursor;
    if ((typeof cursor.k === 'string' || typeof cursor.k === 'number') && (cursor.o === 'asc' || cursor.o === 'desc')) return cursor;
  } catch {
    // fall through
  }
  throw new OmaError('invalid_request', 'page is not a cursor this server issued');
}

/**
 * `limit`, `page` and `order` from the query. `limit` is 1…`max` (the SDK's tool runner sends 1000);
 * a page cursor fixes the order, and an explicit different `order` is a 400.
 */
export function pageRequest(
  query: Query,
  options: { defaultLimit: number; maxLimit?: number; defaultOrder: Order; orderParam?: boolean; keyType?: 'string' | 'number' },
): PageRequest {
  const limit = query.integer('limit', { min: 1, max: options.maxLimit ?? 1000 }) ?? options.defaultLimit;
  const requestedOrder = options.orderParam ? query.oneOf('order', ['asc', 'desc'] as const) : undefined;
  const page = query.string('page');
  if (page === undefined) return { limit, order: requestedOrder ?? options.defaultOrder, after: undefined, backwards: false };
  const cursor = decodeCursor(page);
  if (typeof cursor.k !== (options.keyType ?? 'string')) throw new OmaError('invalid_request', 'page is not a cursor of this list');
  if (requestedOrder && requestedOrder !== cursor.o) {
    throw new OmaError('invalid_request', `this page cursor belongs to order=${cursor.o}; it cannot be used with order=${requestedOrder}`);
  }
  return { limit, order: cursor.o, after: cursor.k, backwards: cursor.b === 1 };
}

/** SQL for the keyset condition and order on `column`; pushes parameters onto `params`. */
export function keyset(column: string, request: PageRequest, params: unknown[]): { where: string; orderBy: string; limit: string } {
  // Walking backwards from a prev cursor is walking forwards in the opposite order.
  const forward = request.backwards ? (request.order === 'asc' ? 'desc' : 'asc') : request.order;
  const where = request.after === undefined ? 'TRUE' : `${column} ${forward === 'asc' ? '>' : '<'} $${params.push(request.after)}`;
  return { where, orderBy: `${column} ${forward === 'asc' ? 'ASC' : 'DESC'}`, limit: `LIMIT $${params.push(request.limit + 1)}` };
}

/**
 * The response page from rows fetched with `keyset` (which asks for one row more than `limit`, to know
 * whether there is a next page). `prev_page` is included for bidirectional lists.
 */
export function toPage<Row, Item>(
  rows: Row[],
  request: PageRequest,
  key: (row: Row) => string | number,
  render: (row: Row) => Item,
  options: { bidirectional?: boolean } = {},
): { data: Item[]; next_page: string | null; prev_page?: string | null } {
  const more = rows.length > request.limit;
  const kept = more ? rows.slice(0, request.limit) : rows;
  const ordered = request.backwards ? kept.reverse() : kept;
  const first = ordered[0];
  const last = ordered.at(-1);
  // Going forward, a next page exists if we saw one more row; going backwards, we came from one.
  const hasNext = request.backwards ? last !== undefined : more;
  const hasPrev = request.backwards ? more : request.after !== undefined && first !== undefined;
  const page: { data: Item[]; next_page: string | null; prev_page?: string | null } = {
    data: ordered.map(render),
    next_page: hasNext && last !== undefined ? encodeCursor(key(last), request.order) : null,
  };
  if (options.bidirectional) page.prev_page = hasPrev && first !== undefined ? encodeCursor(key(first), request.order, true) : null;
  return page;
}
