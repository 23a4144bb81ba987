/**
 * Every way a model call can fail, as one error class with a closed set of kinds. Whether the brain
 * retries is decided by the kind here and nowhere else.
 */

const KINDS = {
  /** 429: slow down, then retry. */
  rate_limited: { retryable: true },
  /** 529 / `overloaded_error`. */
  overloaded: { retryable: true },
  /** 5xx other than 529, `api_error`. */
  server: { retryable: true },
  /** The connection failed, or timed out, before or during the response. */
  connection: { retryable: true },
  /** The stream ended without `message_stop`. */
  dropped: { retryable: true },
  /** 400 "prompt is too long": the context must shrink before a retry can succeed. */
  prompt_too_long: { retryable: false },
  /** Any other 4xx: the request itself is wrong. */
  invalid_request: { retryable: false },
  /** 401/403: the model key is missing or refused. */
  authentication: { retryable: false },
  /** The caller aborted (interrupt, shutdown). */
  aborted: { retryable: false },
} as const;

export type ModelErrorKind = keyof typeof KINDS;

export class ModelError extends Error {
  readonly kind: ModelErrorKind;
  /** HTTP status when there was one. */
  readonly status: number | undefined;
  /** From a `retry-after` header, when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(kind: ModelErrorKind, message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ModelError';
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  get retryable(): boolean {
    return KINDS[this.kind].retryable;
  }
}

export function isModelError(error: unknown, kind?: ModelErrorKind): error is ModelError {
  return error instanceof ModelError && (kind === undefined || error.kind === kind);
}

/** The kind for an HTTP error answer: by status, then by the Anthropic error `type` and message. */
export function modelErrorKind(status: number | undefined, type?: string, message = ''): ModelErrorKind {
  if (type === 'overloaded_error' || status === 529) return 'overloaded';
  if (type === 'rate_limit_error' || status === 429) return 'rate_limited';
  if (status === 401 || status === 403 || type === 'authentication_error' || type === 'permission_error') return 'authentication';
  // "prompt is too long: N tokens > M maximum", or "input length and `max_tokens` exceed context limit: N + K > M".
  if (/prompt is too long|exceed context limit/i.test(message)) return 'prompt_too_long';
  if (status === 408) return 'connection';
  if (status !== undefined && status >= 400 && status < 500) return 'invalid_request';
  return 'server';
}
