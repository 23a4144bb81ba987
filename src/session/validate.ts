import { OmaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { AppendOptions, NewEvent, ReadOptions } from './interface.ts';

/** Checks shared by every implementation, so they all reject the same bad input the same way. */

export interface PreparedEvents {
  /** The events as the log stores them: ids assigned, payloads normalised through JSON. */
  events: Required<NewEvent>[];
  /** The same, serialised. */
  json: string;
}

/** Validate, assign ids, and normalise payloads through JSON (what a reader of the log gets back). */
export function prepareEvents(events: readonly NewEvent[]): PreparedEvents {
  if (!Array.isArray(events) || events.length === 0) throw new OmaError('invalid_request', 'append needs at least one event');
  const withIds = events.map((event) => {
    if (typeof event?.type !== 'string' || event.type.length === 0) {
      throw new OmaError('invalid_request', 'every event needs a non-empty string type');
    }
    if (event.id !== undefined && !/^sevt_[A-Za-z0-9]+$/.test(event.id)) {
      throw new OmaError('invalid_request', `event id ${JSON.stringify(event.id)} is not of the form sevt_…`);
    }
    if (event.payload !== undefined && (typeof event.payload !== 'object' || event.payload === null || Array.isArray(event.payload))) {
      throw new OmaError('invalid_request', 'an event payload must be a JSON object');
    }
    return { id: event.id ?? newId('sevt'), type: event.type, payload: event.payload ?? {} };
  });
  const json = JSON.stringify(withIds);
  return { events: JSON.parse(json) as Required<NewEvent>[], json };
}

function checkSeq(name: string, value: number | undefined) {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new OmaError('invalid_request', `${name} must be a non-negative integer`);
  }
}

export function checkAppendOptions(options: AppendOptions) {
  checkSeq('expectedSeq', options.expectedSeq);
  checkSeq('fence', options.fence);
}

export function checkReadOptions(options: ReadOptions) {
  checkSeq('afterSeq', options.afterSeq);
  checkSeq('beforeSeq', options.beforeSeq);
  checkSeq('limit', options.limit);
  if (options.order !== undefined && options.order !== 'asc' && options.order !== 'desc') {
    throw new OmaError('invalid_request', 'order must be asc or desc');
  }
}

export function staleSeq(sessionId: string, expected: number, actual: number) {
  return new OmaError('stale_seq', `session ${sessionId} is at seq ${actual}, not the expected ${expected}`, {
    details: { error_code: 'stale_seq', last_seq: actual },
  });
}

export function staleFence(sessionId: string, fence: number, current: number) {
  return new OmaError('stale_fence', `lease generation ${fence} of session ${sessionId} was superseded by ${current}`, {
    details: { error_code: 'stale_fence', fence: current },
  });
}

export function duplicateId(cause?: unknown) {
  return new OmaError('conflict', 'an event with that id already exists', { details: { error_code: 'duplicate_event_id' }, cause });
}

export function closedLog(sessionId: string) {
  return new OmaError('conflict', `session ${sessionId} has ended; it takes no more events`, { details: { error_code: 'session_log_closed' } });
}
