/**
 * One error class for all of oma, with a closed set of codes. The code decides the HTTP status, the
 * Anthropic error `type` and whether a client may retry; nothing else does (see `CODES`).
 */

interface CodeInfo {
  status: number;
  /** `error.type` in the Anthropic error body. */
  type: string;
  /** Whether repeating the same request may succeed. Sent to the SDK as `x-should-retry`. */
  retryable: boolean;
}

const CODES = {
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false },
  unauthenticated: { status: 401, type: 'authentication_error', retryable: false },
  permission_denied: { status: 403, type: 'permission_error', retryable: false },
  not_found: { status: 404, type: 'not_found_error', retryable: false },
  /** A deterministic conflict (archived object, duplicate name, version mismatch). */
  conflict: { status: 409, type: 'invalid_request_error', retryable: false },
  /** Session log: an append at an `expectedSeq` that is no longer the last seq. */
  stale_seq: { status: 409, type: 'invalid_request_error', retryable: false },
  /** Session log: an append under a lease generation that has been superseded. */
  stale_fence: { status: 409, type: 'invalid_request_error', retryable: false },
  /** A conditional request whose condition no longer holds (a work heartbeat's expected_last_heartbeat). */
  precondition_failed: { status: 412, type: 'invalid_request_error', retryable: false },
  request_too_large: { status: 413, type: 'request_too_large', retryable: false },
  rate_limited: { status: 429, type: 'rate_limit_error', retryable: true },
  internal: { status: 500, type: 'api_error', retryable: true },
  unavailable: { status: 503, type: 'api_error', retryable: true },
  overloaded: { status: 529, type: 'overloaded_error', retryable: true },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export class OmaError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts; `error_code` among them is sent as `error.details.error_code`. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'OmaError';
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return CODES[this.code].status;
  }

  get type(): string {
    return CODES[this.code].type;
  }

  get retryable(): boolean {
    return CODES[this.code].retryable;
  }
}

export function isOmaError(error: unknown, code?: ErrorCode): error is OmaError {
  return error instanceof OmaError && (code === undefined || error.code === code);
}

/** The Anthropic-style error body: `{"type":"error","error":{type,message,details?},"request_id"}`. */
export function errorBody(error: OmaError, requestId: string) {
  const details = error.details?.error_code === undefined ? undefined : error.details;
  return {
    type: 'error' as const,
    error: { type: error.type, message: error.message, ...(details ? { details } : {}) },
    request_id: requestId,
  };
}

/** Any thrown value as an OmaError; unknown failures become `internal` with the original as `cause`. */
export function toOmaError(error: unknown): OmaError {
  if (error instanceof OmaError) return error;
  return new OmaError('internal', 'Internal server error', { cause: error });
}
