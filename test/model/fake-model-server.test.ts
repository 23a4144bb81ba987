import Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsNonStreaming, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ModelRequest } from '../../src/model/interface.ts';
import { startFakeModelServer, type FakeModelServer } from '../../src/testing/fake-model-server.ts';
import { estimateTokens, ScriptedModel, scriptEvents, type Script, type ScriptResponse } from '../../src/testing/scripted-model.ts';

const servers: FakeModelServer[] = [];
after(async () => {
  for (const server of servers) await server.close();
});
async function serve(script: Script, options: { chunkChars?: number } = {}) {
  const server = await startFakeModelServer({ model: new ScriptedModel(script, options) });
  servers.push(server);
  return { server, client: new Anthropic({ baseURL: server.url, apiKey: 'x', maxRetries: 0 }) };
}

const params: MessageCreateParamsNonStreaming = {
  model: 'claude-test-1',
  max_tokens: 2048,
  system: 'You are terse.',
  tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
};

const RICH: ScriptResponse = {
  content: [
    { type: 'thinking', thinking: 'Need the weather tool.', signature: 'sig_fixed' },
    { type: 'text', text: 'Let me check the weather for you — one moment.' },
    { type: 'tool_use', name: 'get_weather', input: { city: 'Paris', when: ['today', 'tomorrow'] }, id: 'toolu_01' },
  ],
  usage: { input_tokens: 321, output_tokens: 54, cache_read_input_tokens: 300 },
};
const RICH_CONTENT = [
  { type: 'thinking', thinking: 'Need the weather tool.', signature: 'sig_fixed' },
  { type: 'text', text: 'Let me check the weather for you — one moment.', citations: null },
  { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', when: ['today', 'tomorrow'] }, caller: { type: 'direct' } },
];

describe('fake model server, through the official SDK', () => {
  it('messages.stream(...).finalMessage() is the scripted message', async () => {
    const { client } = await serve([RICH], { chunkChars: 4 });
    const stream = client.messages.stream(params);
    const message = await stream.finalMessage();
    assert.deepEqual(JSON.parse(JSON.stringify(message.content)), RICH_CONTENT);
    assert.equal(message.stop_reason, 'tool_use');
    assert.equal(message.model, 'claude-test-1');
    assert.match(message.id, /^msg_/);
    assert.equal(message.usage.input_tokens, 321);
    assert.equal(message.usage.output_tokens, 54);
    assert.equal(message.usage.cache_read_input_tokens, 300);
    assert.match(stream.request_id ?? '', /^req_/);
  });

  it('messages.create without streaming answers the same accumulated message', async () => {
    const { client } = await serve([RICH, { content: [{ type: 'text', text: 'Sunny.' }] }]);
    const message = await client.messages.create(params);
    assert.deepEqual(JSON.parse(JSON.stringify(message.content)), RICH_CONTENT);
    assert.equal(message.stop_reason, 'tool_use');
    assert.equal(message.usage.input_tokens, 321);
    assert.equal(message.usage.output_tokens, 54);
    const second = await client.messages.create(params);
    assert.deepEqual(second.content, [{ type: 'text', text: 'Sunny.', citations: null }]);
    assert.equal(second.stop_reason, 'end_turn');
    assert.equal(second.usage.input_tokens, estimateTokens({ ...params }));
  });

  it('a 429 is a RateLimitError with retry-after and a request id; a 529 is overloaded_error', async () => {
    const { client } = await serve([{ error: { status: 429, retry_after_s: 7 } }, { error: { status: 529 } }, { error: { status: 400, message: 'prompt is too long: 5 tokens > 1 maximum' } }]);
    const limited = await client.messages.create(params).then(() => assert.fail('expected a 429'), (error: unknown) => error);
    assert.ok(limited instanceof Anthropic.RateLimitError);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '7');
    assert.equal(limited.type, 'rate_limit_error');
    assert.match(limited.requestID ?? '', /^req_/);
    const overloaded = await client.messages.stream(params).finalMessage().then(() => assert.fail('expected a 529'), (error: unknown) => error);
    assert.ok(overloaded instanceof Anthropic.APIError);
    assert.equal(overloaded.status, 529);
    assert.equal(overloaded.type, 'overloaded_error');
    const tooLong = await client.messages.create(params).then(() => assert.fail('expected a 400'), (error: unknown) => error);
    assert.ok(tooLong instanceof Anthropic.BadRequestError);
    assert.equal(tooLong.apiMessage, 'prompt is too long: 5 tokens > 1 maximum');
  });

  it('a mid-stream error makes the SDK throw (streamed: the error event; not streamed: an HTTP 529)', async () => {
    const step = { content: [{ type: 'text' as const, text: 'partial answer' }], error_after: { events: 3, type: 'overloaded_error' } };
    const { client } = await serve([step, step]);
    const seen: string[] = [];
    const stream = client.messages.stream(params).on('streamEvent', (event) => seen.push(event.type));
    const error = await stream.finalMessage().then(() => assert.fail('expected an error'), (error: unknown) => error);
    assert.ok(error instanceof Anthropic.APIError);
    assert.equal(error.status, undefined);
    assert.equal(error.type, 'overloaded_error');
    assert.deepEqual(seen, ['message_start', 'content_block_start', 'content_block_delta']);
    const plain = await client.messages.create(params).then(() => assert.fail('expected an error'), (error: unknown) => error);
    assert.ok(plain instanceof Anthropic.APIError);
    assert.equal(plain.status, 529);
  });

  it('a dropped stream cuts the connection: the SDK fails instead of returning a message', async () => {
    const { client } = await serve([{ content: [{ type: 'text', text: 'cut short' }], drop_after: 2 }]);
    await assert.rejects(client.messages.stream(params).finalMessage(), (error: Error) => !(error instanceof Anthropic.APIError) || error instanceof Anthropic.APIConnectionError);
  });

  it('records what was sent, minus stream; GET /v1/fake/requests returns it', async () => {
    const { server, client } = await serve([{ content: [] }, { content: [] }]);
    await client.messages.stream(params).finalMessage();
    await client.messages.create({ ...params, max_tokens: 5 });
    const recorded = (await (await fetch(`${server.url}/v1/fake/requests`)).json()) as ModelRequest[];
    assert.deepEqual(recorded, [params, { ...params, max_tokens: 5 }]);
    assert.deepEqual(server.model.requests, recorded);
  });
});

describe('fake model server, raw HTTP', () => {
  it('frames the SSE body exactly as the API does: event lines, a ping after message_start, blank-line separators', async () => {
    const step: ScriptResponse = { content: [{ type: 'text', text: 'Hi there' }, { type: 'tool_use', name: 't', input: { a: 1 }, id: 'toolu_x' }] };
    const { server } = await serve([step], { chunkChars: 5 });
    const response = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'anything' },
      body: JSON.stringify({ ...params, stream: true }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.match(response.headers.get('request-id') ?? '', /^req_/);
    const body = await response.text();
    const { stream: _, ...request } = { ...params, stream: true };
    const expected = scriptEvents(step, request, 5);
    const messageId = /"id":"(msg_[^"]+)"/.exec(body)?.[1];
    assert.ok(messageId);
    (expected[0] as Extract<RawMessageStreamEvent, { type: 'message_start' }>).message.id = messageId;
    const frames = expected.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    frames.splice(1, 0, 'event: ping\ndata: {"type": "ping"}\n\n');
    assert.equal(body, frames.join(''));
  });

  it('sends the error event frame, then ends', async () => {
    const { server } = await serve([{ content: [{ type: 'text', text: 'x' }], error_after: { events: 1, type: 'overloaded_error', message: 'Overloaded' } }]);
    const body = await (await fetch(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) })).text();
    assert.match(body, /^event: message_start\ndata: \{.*\}\n\nevent: ping\ndata: \{"type": "ping"\}\n\n/);
    assert.ok(body.endsWith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'), body);
  });

  it('answers errors before the stream with status, error body, request-id and retry-after', async () => {
    const { server } = await serve([{ error: { status: 429, message: 'slow down', retry_after_s: 2 } }]);
    const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '2');
    assert.match(response.headers.get('request-id') ?? '', /^req_/);
    assert.deepEqual(await response.json(), { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
  });

  it('serves count_tokens, healthz, a 404 for other routes, and a 400 for a body that is not JSON', async () => {
    const { server } = await serve([]);
    const counted = await fetch(`${server.url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify(params) });
    assert.deepEqual(await counted.json(), { input_tokens: estimateTokens(params) });
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.match(health.headers.get('request-id') ?? '', /^req_/);
    const missing = await fetch(`${server.url}/v1/models`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { type: string } }).error.type, 'not_found_error');
    const invalid = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: '{oops' });
    assert.equal(invalid.status, 400);
  });

  it('a client that disconnects aborts the scripted stream; close() ends open streams promptly', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    class SpyModel extends ScriptedModel {
      override stream(request: ModelRequest, options: { signal?: AbortSignal } = {}) {
        signals.push(options.signal);
        return super.stream(request, options);
      }
    }
    const slow = { content: [{ type: 'text' as const, text: 'very slow answer' }], chunk_delay_ms: 60_000 };
    const server = await startFakeModelServer({ model: new SpyModel([slow, slow]) });
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }), signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read(); // message_start has arrived
    controller.abort();
    for (let i = 0; i < 100 && !signals[0]?.aborted; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(signals[0]?.aborted, true);

    const second = await fetch(`${server.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) });
    const secondReader = second.body!.getReader();
    await secondReader.read();
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(async () => {
      for (;;) if ((await secondReader.read()).done) throw new Error('ended cleanly');
    });
  });
});
