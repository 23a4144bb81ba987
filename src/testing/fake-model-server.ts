import type { Message, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isModelError, type ModelErrorKind } from '../model/errors.ts';
import type { ModelRequest } from '../model/interface.ts';
import { estimateTokens, ScriptedApiError, statusForErrorType, type ScriptedModel } from './scripted-model.ts';

/**
 * A `ScriptedModel` served as the Messages API over HTTP, with the real API's framing, so the
 * official SDK and a spawned oma (`ANTHROPIC_BASE_URL`) can be tested against scripted answers.
 *
 * - `POST /v1/messages`: streamed (`stream: true`, SSE with a `ping` after `message_start`) or not
 *   (the accumulated `Message`). A scripted error before the first event is an HTTP error answer;
 *   after it, an `error` event (streamed) or an HTTP error (not streamed). A dropped stream destroys
 *   the connection. A client that disconnects aborts the scripted stream.
 * - `POST /v1/messages/count_tokens`: `{"input_tokens": estimate}`.
 * - `GET /v1/fake/requests`: the requests the model recorded (without `stream`).
 * - `GET /healthz`: 200.
 * No authentication: any key is accepted.
 */

export interface FakeModelServer {
  url: string;
  model: ScriptedModel;
  close(): Promise<void>;
}

const TYPE_FOR_KIND: Record<ModelErrorKind, string> = {
  rate_limited: 'rate_limit_error',
  overloaded: 'overloaded_error',
  server: 'api_error',
  connection: 'api_error',
  dropped: 'api_error',
  prompt_too_long: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  aborted: 'api_error',
};

/** The API's `{type, error: {type, message}}` body and status for anything a scripted stream threw. */
function describeError(error: unknown): { status: number; type: string; message: string; retryAfterS?: number } {
  if (!isModelError(error)) return { status: 500, type: 'api_error', message: `fake model: ${(error as Error)?.message ?? String(error)}` };
  const type = error instanceof ScriptedApiError ? error.errorType : TYPE_FOR_KIND[error.kind];
  const status = error.status ?? statusForErrorType(type);
  return { status, type, message: error.message, retryAfterS: error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000) };
}

const requestId = () => 'req_011' + randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 21);

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function sendError(response: ServerResponse, status: number, type: string, message: string, retryAfterS?: number) {
  sendJson(response, status, { type: 'error', error: { type, message } }, retryAfterS === undefined ? {} : { 'retry-after': String(retryAfterS) });
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8'));
}

const frame = (event: { type: string }) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
const PING = 'event: ping\ndata: {"type": "ping"}\n\n';

/** Builds the final `Message` from the events, as the API's non-streaming answer. */
function accumulate(events: RawMessageStreamEvent[]): Message {
  let message: Message | undefined;
  const json: string[] = [];
  for (const event of events) {
    if (event.type === 'message_start') message = structuredClone(event.message);
    else if (!message) continue;
    else if (event.type === 'content_block_start') message.content.push({ ...event.content_block });
    else if (event.type === 'content_block_delta') {
      const block = message.content[event.index]!;
      const delta = event.delta;
      if (delta.type === 'text_delta' && block.type === 'text') block.text += delta.text;
      else if (delta.type === 'thinking_delta' && block.type === 'thinking') block.thinking += delta.thinking;
      else if (delta.type === 'signature_delta' && block.type === 'thinking') block.signature = delta.signature;
      else if (delta.type === 'input_json_delta') json[event.index] = (json[event.index] ?? '') + delta.partial_json;
    } else if (event.type === 'content_block_stop') {
      const block = message.content[event.index]!;
      if (block.type === 'tool_use' && json[event.index] !== undefined) block.input = JSON.parse(json[event.index]!);
    } else if (event.type === 'message_delta') {
      message.stop_reason = event.delta.stop_reason;
      message.stop_sequence = event.delta.stop_sequence;
      message.stop_details = event.delta.stop_details;
      message.usage.output_tokens = event.usage.output_tokens;
      if (event.usage.input_tokens != null) message.usage.input_tokens = event.usage.input_tokens;
      if (event.usage.cache_creation_input_tokens != null) message.usage.cache_creation_input_tokens = event.usage.cache_creation_input_tokens;
      if (event.usage.cache_read_input_tokens != null) message.usage.cache_read_input_tokens = event.usage.cache_read_input_tokens;
    }
  }
  return message!;
}

async function handleMessages(model: ScriptedModel, body: Record<string, unknown>, response: ServerResponse) {
  const { stream: streamed, ...request } = body;
  const controller = new AbortController();
  // 'close' before the answer finished = the client went away: stop the scripted stream.
  response.on('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  const iterator = model.stream(request as ModelRequest, { signal: controller.signal })[Symbol.asyncIterator]();
  const events: RawMessageStreamEvent[] = [];
  let failure: unknown;
  let first: IteratorResult<RawMessageStreamEvent> | undefined;
  try {
    first = await iterator.next();
  } catch (error) {
    failure = error;
  }
  if (controller.signal.aborted) return;
  if (failure !== undefined || !first || first.done) {
    // Nothing was streamed: an HTTP error answer (or, for an empty dropped stream, a cut connection).
    if (failure === undefined) return void response.destroy();
    const { status, type, message, retryAfterS } = describeError(failure);
    return sendError(response, status, type, message, retryAfterS);
  }
  events.push(first.value);
  if (streamed === true) {
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    response.write(frame(first.value));
    if (first.value.type === 'message_start') response.write(PING);
  }
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      events.push(next.value);
      if (streamed === true) response.write(frame(next.value));
    }
  } catch (error) {
    failure = error;
  }
  if (controller.signal.aborted) return;
  if (failure !== undefined) {
    const { status, type, message } = describeError(failure);
    if (streamed !== true) return sendError(response, status, type, message);
    response.end(frame({ type: 'error', error: { type, message } } as { type: string }));
    return;
  }
  if (events.at(-1)?.type !== 'message_stop') {
    // A dropped stream: the events so far reach the client, then the connection is cut (no chunked terminator).
    if (streamed === true) await new Promise<void>((resolve) => response.write('', () => resolve()));
    return void response.destroy();
  }
  if (streamed === true) response.end();
  else sendJson(response, 200, accumulate(events));
}

export async function startFakeModelServer(options: { model: ScriptedModel; port?: number; host?: string }): Promise<FakeModelServer> {
  const { model } = options;
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    response.setHeader('request-id', requestId());
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    const route = `${request.method} ${path}`;
    void (async () => {
      if (route === 'GET /healthz') return sendJson(response, 200, { ok: true });
      if (route === 'GET /v1/fake/requests') return sendJson(response, 200, model.requests);
      if (route !== 'POST /v1/messages' && route !== 'POST /v1/messages/count_tokens') {
        return sendError(response, 404, 'not_found_error', `fake model: no route ${route}`);
      }
      let body: unknown;
      try {
        body = await readJson(request);
      } catch {
        return sendError(response, 400, 'invalid_request_error', 'request body is not valid JSON');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return sendError(response, 400, 'invalid_request_error', 'request body must be a JSON object');
      if (path.endsWith('/count_tokens')) return sendJson(response, 200, { input_tokens: estimateTokens(body) });
      await handleMessages(model, body as Record<string, unknown>, response);
    })().catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, 'api_error', `fake model: ${(error as Error).message}`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    model,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
