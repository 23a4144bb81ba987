import type { BetaManagedAgentsRefreshHTTPResponse } from '@anthropic-ai/sdk/resources/beta/vaults/credentials';

/**
 * Outbound HTTP for credentials: the token endpoint's refresh exchange and the MCP probe. Answers
 * are reported back to API clients (`http_response`), so every body is scrubbed of tokens and
 * secrets before it is truncated, and nothing here puts a secret into an error message.
 */

export type HttpCapture = BetaManagedAgentsRefreshHTTPResponse;

/** Characters of a body reported back (⚠ the spec says only "truncated"). */
export const REPORTED_BODY_CHARS = 2048;
/** Bytes of a body read at most (an event stream may never end). */
const READ_LIMIT = 64 * 1024;
export const OUTBOUND_TIMEOUT_MS = 10_000;
const REDACTED = '[redacted]';

/** Values of keys that look like credentials, in JSON bodies, and every known secret anywhere. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  try {
    const redact = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(redact);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, /token|secret|password|assertion/i.test(key) && typeof item === 'string' ? REDACTED : redact(item)]));
    };
    out = JSON.stringify(redact(JSON.parse(text)));
  } catch {
    // not JSON: only the known secrets are removed below
  }
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(REDACTED);
  return out;
}

async function readLimited(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < READ_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // a body cut short still reports what arrived
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, READ_LIMIT).toString('utf8');
}

/** The response as reported to clients; `extraSecrets` may be added once the body was parsed. */
export async function captureResponse(response: Response, secrets: readonly string[]): Promise<{ capture: HttpCapture; text: string }> {
  const text = await readLimited(response);
  const scrubbed = scrub(text, secrets);
  return {
    text,
    capture: {
      status_code: response.status,
      content_type: response.headers.get('content-type') ?? '',
      body: scrubbed.slice(0, REPORTED_BODY_CHARS),
      body_truncated: scrubbed.length > REPORTED_BODY_CHARS,
    },
  };
}

/** `fetch` that never follows redirects (a token must not travel to another origin) and gives up after `OUTBOUND_TIMEOUT_MS`. */
export function outboundFetch(url: string, init: RequestInit & { signal?: AbortSignal }): Promise<Response> {
  const timeout = AbortSignal.timeout(OUTBOUND_TIMEOUT_MS);
  return fetch(url, { ...init, redirect: 'manual', signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
}

export type ProbeResult = { kind: 'response'; ok: boolean; status: number; capture: HttpCapture | null } | { kind: 'network_error' };

/** POST an MCP `initialize` with the bearer token; the body is read (and reported) only when it failed. */
export async function probeMcpServer(serverUrl: string, accessToken: string, secrets: readonly string[], signal?: AbortSignal): Promise<ProbeResult> {
  const body = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'oma-credential-validation', version: '1.0.0' } },
  };
  let response: Response;
  try {
    response = await outboundFetch(serverUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(body),
      signal,
    });
  } catch {
    return { kind: 'network_error' };
  }
  if (response.ok) {
    response.body?.cancel().catch(() => {});
    return { kind: 'response', ok: true, status: response.status, capture: null };
  }
  const { capture } = await captureResponse(response, secrets);
  return { kind: 'response', ok: false, status: response.status, capture };
}

export interface RefreshRequest {
  tokenEndpoint: string;
  clientId: string;
  endpointAuth: 'none' | 'client_secret_basic' | 'client_secret_post';
  clientSecret: string | undefined;
  refreshToken: string;
  resource: string | null | undefined;
  scope: string | null | undefined;
  signal?: AbortSignal;
}

export type RefreshExchange =
  | { status: 'succeeded'; accessToken: string; refreshToken: string | undefined; expiresIn: number | undefined; capture: HttpCapture }
  | { status: 'failed'; capture: HttpCapture | null; reason: string }
  | { status: 'connect_error'; reason: string };

/** RFC 6749 §6 refresh: form-encoded POST; client auth by Basic header or in the body (client_secret_post), none for public clients. */
export async function exchangeRefreshToken(request: RefreshRequest): Promise<RefreshExchange> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: request.refreshToken });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (request.endpointAuth === 'client_secret_basic') {
    if (!request.clientSecret) return { status: 'failed', capture: null, reason: 'no client_secret is stored for client_secret_basic' };
    const user = encodeURIComponent(request.clientId);
    const password = encodeURIComponent(request.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  } else {
    form.set('client_id', request.clientId);
    if (request.endpointAuth === 'client_secret_post') {
      if (!request.clientSecret) return { status: 'failed', capture: null, reason: 'no client_secret is stored for client_secret_post' };
      form.set('client_secret', request.clientSecret);
    }
  }
  if (request.resource) form.set('resource', request.resource);
  if (request.scope) form.set('scope', request.scope);
  const known = [request.refreshToken, request.clientSecret ?? ''];
  let response: Response;
  try {
    response = await outboundFetch(request.tokenEndpoint, { method: 'POST', headers, body: form.toString(), signal: request.signal });
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return { status: 'connect_error', reason: timedOut ? 'the token endpoint did not answer in time' : 'the token endpoint could not be reached' };
  }
  const { capture, text } = await captureResponse(response, known);
  if (!response.ok) return { status: 'failed', capture, reason: `the token endpoint answered ${response.status}` };
  let parsed: { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return { status: 'failed', capture, reason: 'the token endpoint did not answer JSON' };
  }
  if (typeof parsed.access_token !== 'string' || parsed.access_token.length === 0) {
    return { status: 'failed', capture, reason: 'the token endpoint answered without an access_token' };
  }
  const refreshToken = typeof parsed.refresh_token === 'string' && parsed.refresh_token.length > 0 ? parsed.refresh_token : undefined;
  const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : Number(parsed.expires_in) > 0 ? Number(parsed.expires_in) : undefined;
  // Scrubbed by key already; the new tokens are removed once more wherever they appear, before truncating.
  const body = scrub(text, [...known, parsed.access_token, refreshToken ?? '']);
  const reported = { ...capture, body: body.slice(0, REPORTED_BODY_CHARS), body_truncated: body.length > REPORTED_BODY_CHARS };
  return { status: 'succeeded', accessToken: parsed.access_token, refreshToken, expiresIn, capture: reported };
}
