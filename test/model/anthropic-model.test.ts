import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { AnthropicModel } from '../../src/model/anthropic.ts';
import { isModelError, ModelError } from '../../src/model/errors.ts';
import type { ModelRequest } from '../../src/model/interface.ts';
import { startFakeModelServer, type FakeModelServer } from '../../src/testing/fake-model-server.ts';
import { estimateTokens, ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';

const servers: FakeModelServer[] = [];
after(async () => {
  for (const server of servers) await server.close();
});
async function fake(script: ScriptStep[]) {
  const server = await startFakeModelServer({ model: new ScriptedModel(script, { chunkChars: 3 }) });
  servers.push(server);
  return { server, model: new AnthropicModel({ baseURL: server.url, apiKey: 'x' }) };
}

const request: ModelRequest = { model: 'claude-test-1', max_tokens: 512, messages: [{ role: 'user', content: 'Weather in Paris?' }] };

async function collect(stream: AsyncIterable<RawMessageStreamEvent>) {
  const events: RawMessageStreamEvent[] = [];
  try {
    for await (const event of stream) events.push(event);
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

/** Message ids are random per call: blank them to compare two runs of the same script. */
const withoutIds = (events: RawMessageStreamEvent[]) =>
  events.map((event) => (event.type === 'message_start' ? { ...event, message: { ...event.message, id: 'msg' } } : event));

describe('AnthropicModel', () => {
  it('[CTX-10] countTokens asks the Messages API count_tokens for what the request sends (not its max_tokens), and maps failures', async () => {
    const { model } = await fake([]);
    const withTools: ModelRequest = { ...request, system: 'Be brief.', tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] };
    const { max_tokens: _max, ...counted } = withTools;
    assert.equal(await model.countTokens(withTools), estimateTokens(counted));
    const refused = await new AnthropicModel({ baseURL: 'http://127.0.0.1:9', apiKey: 'x' }).countTokens(request).catch((error: unknown) => error);
    assert.ok(isModelError(refused, 'connection'), 'a refused connection is a ModelError');
  });

  it('yields the same events over HTTP as the ScriptedModel directly (the ping left out)', async () => {
    const step: ScriptStep = {
      content: [
        { type: 'thinking', thinking: 'Use the tool.', signature: 'sig_1' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', name: 'get_weather', input: { city: 'Paris' }, id: 'toolu_1' },
      ],
      usage: { input_tokens: 10, output_tokens: 20 },
    };
    const { server, model } = await fake([step]);
    const overHttp = await collect(model.stream(request));
    assert.equal(overHttp.error, undefined);
    const direct = await collect(new ScriptedModel([step], { chunkChars: 3 }).stream(request));
    assert.deepEqual(withoutIds(overHttp.events), withoutIds(direct.events));
    assert.ok(overHttp.events.every((event) => (event as { type: string }).type !== 'ping'));
    assert.deepEqual(server.model.requests, [request]);
  });

  it('maps HTTP errors to ModelError kinds, with status and retryAfterMs', async () => {
    const { model } = await fake([
      { error: { status: 429, retry_after_s: 4 } },
      { error: { status: 529 } },
      { error: { status: 500 } },
      { error: { status: 400, message: 'prompt is too long: 1 tokens > 0 maximum' } },
      { error: { status: 400, message: 'messages: field required' } },
      { error: { status: 401 } },
      { error: { status: 403 } },
    ]);
    const expected = [
      ['rate_limited', 429, 4000],
      ['overloaded', 529, undefined],
      ['server', 500, undefined],
      ['prompt_too_long', 400, undefined],
      ['invalid_request', 400, undefined],
      ['authentication', 401, undefined],
      ['authentication', 403, undefined],
    ] as const;
    for (const [kind, status, retryAfterMs] of expected) {
      const { events, error } = await collect(model.stream(request));
      assert.equal(events.length, 0);
      assert.ok(error instanceof ModelError, String(error));
      assert.equal(error.kind, kind, error.message);
      assert.equal(error.status, status);
      assert.equal(error.retryAfterMs, retryAfterMs);
    }
  });

  it('maps a mid-stream error event to the kind of its type, after the events before it', async () => {
    const { model } = await fake([
      { content: [{ type: 'text', text: 'abc' }], error_after: { events: 2, type: 'overloaded_error' } },
      { content: [{ type: 'text', text: 'abc' }], error_after: { events: 1, type: 'api_error' } },
    ]);
    const overloaded = await collect(model.stream(request));
    assert.deepEqual(overloaded.events.map((event) => event.type), ['message_start', 'content_block_start']);
    assert.ok(isModelError(overloaded.error, 'overloaded'), String(overloaded.error));
    assert.equal(overloaded.error.status, undefined);
    const server = await collect(model.stream(request));
    assert.ok(isModelError(server.error, 'server'), String(server.error));
  });

  it('a dropped stream (connection cut after N events) yields those events, then throws connection', async () => {
    const { model } = await fake([{ content: [{ type: 'text', text: 'cut short here' }], drop_after: 3 }]);
    const { events, error } = await collect(model.stream(request));
    assert.deepEqual(events.map((event) => event.type), ['message_start', 'content_block_start', 'content_block_delta']);
    assert.ok(isModelError(error, 'connection'), String(error));
    assert.equal(error.retryable, true);
  });

  it('a body that ends cleanly without message_stop just ends the iteration (the consumer detects the drop)', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const model = new AnthropicModel({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'x' });
      const { events, error } = await collect(model.stream(request));
      assert.equal(error, undefined);
      assert.deepEqual(events.map((event) => event.type), ['message_start']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('an abort during the wait for the answer or mid-stream throws aborted promptly', async () => {
    const { model } = await fake([
      { content: [{ type: 'text', text: 'slow' }], delay_ms: 30_000 },
      { content: [{ type: 'text', text: 'slow stream' }], chunk_delay_ms: 30_000 },
    ]);
    for (const label of ['before the first event', 'mid-stream']) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();
      const { events, error } = await collect(model.stream(request, { signal: controller.signal }));
      const elapsed = Date.now() - started;
      assert.ok(isModelError(error, 'aborted'), `${label}: ${String(error)}`);
      assert.ok(elapsed < 600, `${label}: took ${elapsed} ms`);
      assert.equal(events.length, label === 'mid-stream' ? 1 : 0);
    }
    const controller = new AbortController();
    controller.abort();
    assert.ok(isModelError((await collect(model.stream(request, { signal: controller.signal }))).error, 'aborted'));
  });

  it('a refused connection is connection; no API key anywhere is authentication, naming ANTHROPIC_API_KEY', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await collect(new AnthropicModel({ baseURL: `http://127.0.0.1:${port}`, apiKey: 'x' }).stream(request));
    assert.ok(isModelError(refused.error, 'connection'), String(refused.error));

    const saved = { key: process.env.ANTHROPIC_API_KEY, token: process.env.ANTHROPIC_AUTH_TOKEN };
    delete process.env.ANTHROPIC_API_KEY;
    delete process.env.ANTHROPIC_AUTH_TOKEN;
    try {
      const { server } = await fake([{ content: [] }]);
      const { error } = await collect(new AnthropicModel({ baseURL: server.url }).stream(request));
      assert.ok(isModelError(error, 'authentication'), String(error));
      assert.match(error.message, /ANTHROPIC_API_KEY is not set/);
      assert.equal(server.model.requests.length, 0);
    } finally {
      if (saved.key !== undefined) process.env.ANTHROPIC_API_KEY = saved.key;
      if (saved.token !== undefined) process.env.ANTHROPIC_AUTH_TOKEN = saved.token;
    }
  });

  it('reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY when given no options', async () => {
    const { server } = await fake([{ content: [{ type: 'text', text: 'from env' }] }]);
    const saved = { key: process.env.ANTHROPIC_API_KEY, url: process.env.ANTHROPIC_BASE_URL };
    process.env.ANTHROPIC_API_KEY = 'from-env';
    process.env.ANTHROPIC_BASE_URL = server.url;
    try {
      const { events, error } = await collect(new AnthropicModel().stream(request));
      assert.equal(error, undefined);
      assert.equal(events.at(-1)?.type, 'message_stop');
    } finally {
      for (const [name, value] of [['ANTHROPIC_API_KEY', saved.key], ['ANTHROPIC_BASE_URL', saved.url]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
