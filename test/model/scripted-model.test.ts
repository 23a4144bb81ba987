import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isModelError, ModelError } from '../../src/model/errors.ts';
import type { ModelRequest } from '../../src/model/interface.ts';
import { estimateTokens, fakeSignature, loadScript, parseScript, ScriptedApiError, ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';

const request: ModelRequest = { model: 'claude-test-1', max_tokens: 1024, messages: [{ role: 'user', content: 'What is the weather in Paris?' }] };

async function collect(stream: AsyncIterable<RawMessageStreamEvent>): Promise<RawMessageStreamEvent[]> {
  const events: RawMessageStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The events before the failure, and the failure. */
async function collectUntilError(stream: AsyncIterable<RawMessageStreamEvent>) {
  const events: RawMessageStreamEvent[] = [];
  try {
    for await (const event of stream) events.push(event);
  } catch (error) {
    return { events, error };
  }
  assert.fail(`expected the stream to fail; it yielded ${events.length} events and ended`);
}

const deltas = (events: RawMessageStreamEvent[]) => events.flatMap((event) => (event.type === 'content_block_delta' ? [event.delta] : []));

/** The SDK's own accumulator, fed the events as it would read them off the wire. */
function sdkAccumulate(events: RawMessageStreamEvent[]) {
  const body = new ReadableStream({
    start(controller) {
      for (const event of events) controller.enqueue(new TextEncoder().encode(JSON.stringify(event) + '\n'));
      controller.close();
    },
  });
  return MessageStream.fromReadableStream(body).finalMessage();
}

describe('ScriptedModel events', () => {
  it('streams a text block in chunkChars pieces, with the exact wire shapes', async () => {
    const model = new ScriptedModel([{ content: [{ type: 'text', text: 'Hello, world!' }] }], { chunkChars: 5 });
    const events = await collect(model.stream(request));
    assert.deepEqual(
      events.map((event) => event.type),
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    const start = events[0]!;
    assert.equal(start.type, 'message_start');
    if (start.type !== 'message_start') return;
    assert.match(start.message.id, /^msg_/);
    assert.equal(start.message.type, 'message');
    assert.equal(start.message.role, 'assistant');
    assert.equal(start.message.model, 'claude-test-1');
    assert.deepEqual(start.message.content, []);
    assert.equal(start.message.stop_reason, null);
    assert.equal(start.message.stop_sequence, null);
    assert.equal(start.message.container, null);
    assert.equal(start.message.usage.input_tokens, estimateTokens(request));
    assert.deepEqual(events[1], { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } });
    assert.deepEqual(deltas(events), [
      { type: 'text_delta', text: 'Hello' },
      { type: 'text_delta', text: ', wor' },
      { type: 'text_delta', text: 'ld!' },
    ]);
    assert.deepEqual(events[5], { type: 'content_block_stop', index: 0 });
    const delta = events[6]!;
    assert.equal(delta.type, 'message_delta');
    if (delta.type !== 'message_delta') return;
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.delta.stop_sequence, null);
    assert.equal(delta.usage.input_tokens, estimateTokens(request));
    assert.equal(delta.usage.output_tokens, estimateTokens([{ type: 'text', text: 'Hello, world!' }]));
    assert.equal(delta.usage.cache_read_input_tokens, 0);
    assert.deepEqual(events[7], { type: 'message_stop' });
  });

  it('streams thinking as thinking_delta chunks then one signature_delta, with a deterministic default signature', async () => {
    const model = new ScriptedModel([
      { content: [{ type: 'thinking', thinking: 'ponder ponder' }] },
      { content: [{ type: 'thinking', thinking: 'ponder ponder', signature: 'EqQBCgIYAhIM' }] },
    ], { chunkChars: 8 });
    const first = await collect(model.stream(request));
    assert.deepEqual(first[1], { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } });
    assert.deepEqual(deltas(first), [
      { type: 'thinking_delta', thinking: 'ponder p' },
      { type: 'thinking_delta', thinking: 'onder' },
      { type: 'signature_delta', signature: fakeSignature('ponder ponder') },
    ]);
    assert.match(fakeSignature('ponder ponder'), /^sig_./);
    assert.equal(fakeSignature('ponder ponder'), fakeSignature('ponder ponder'));
    assert.notEqual(fakeSignature('ponder ponder'), fakeSignature('other'));
    const second = await collect(model.stream(request));
    assert.deepEqual(deltas(second).at(-1), { type: 'signature_delta', signature: 'EqQBCgIYAhIM' });
  });

  it('sends redacted_thinking whole in content_block_start, with no delta', async () => {
    const model = new ScriptedModel([{ content: [{ type: 'redacted_thinking', data: 'opaque==' }] }]);
    const events = await collect(model.stream(request));
    assert.deepEqual(events.slice(1, 3), [
      { type: 'content_block_start', index: 0, content_block: { type: 'redacted_thinking', data: 'opaque==' } },
      { type: 'content_block_stop', index: 0 },
    ]);
  });

  it('streams tool_use input as input_json_delta chunks; ids default to fresh toolu_ ids; stop_reason defaults to tool_use', async () => {
    const input = { city: 'Paris', units: 'celsius', nested: { list: [1, 2, 3] } };
    const script: ScriptStep[] = [
      { content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', name: 'get_weather', input }] },
      { content: [{ type: 'tool_use', name: 'get_weather', input: {} }] },
      { content: [{ type: 'tool_use', name: 'get_weather', input, id: 'toolu_fixed' }], stop_reason: 'pause_turn' },
    ];
    const model = new ScriptedModel(script, { chunkChars: 10 });
    const events = await collect(model.stream(request));
    const start = events.find((event) => event.type === 'content_block_start' && event.index === 1);
    assert.ok(start?.type === 'content_block_start' && start.content_block.type === 'tool_use');
    assert.match(start.content_block.id, /^toolu_/);
    assert.equal(start.content_block.name, 'get_weather');
    assert.deepEqual(start.content_block.input, {});
    const partial = deltas(events).flatMap((delta) => (delta.type === 'input_json_delta' ? [delta.partial_json] : []));
    assert.ok(partial.length > 1, 'the input comes in several chunks');
    assert.ok(partial.every((chunk) => chunk.length <= 10));
    assert.deepEqual(JSON.parse(partial.join('')), input);
    const stop = events.at(-2);
    assert.ok(stop?.type === 'message_delta' && stop.delta.stop_reason === 'tool_use');

    const second = await collect(model.stream(request));
    const secondStart = second[1];
    assert.ok(secondStart?.type === 'content_block_start' && secondStart.content_block.type === 'tool_use');
    assert.notEqual(secondStart.content_block.id, start.content_block.id);
    const third = await collect(model.stream(request));
    assert.ok(third[1]?.type === 'content_block_start' && third[1].content_block.type === 'tool_use' && third[1].content_block.id === 'toolu_fixed');
    assert.ok(third.at(-2)?.type === 'message_delta' && (third.at(-2) as { delta: { stop_reason: string } }).delta.stop_reason === 'pause_turn');
  });

  it("accumulates, through the SDK's own MessageStream, into exactly the scripted message", async () => {
    const model = new ScriptedModel([
      {
        content: [
          { type: 'thinking', thinking: 'The user wants weather. 🌦️ Use the tool.', signature: 'sig_abc' },
          { type: 'redacted_thinking', data: 'opaque==' },
          { type: 'text', text: 'Let me check — één moment.' },
          { type: 'tool_use', name: 'get_weather', input: { city: 'Paris', days: [1, 2] }, id: 'toolu_1' },
        ],
        usage: { input_tokens: 120, output_tokens: 45, cache_read_input_tokens: 100, cache_creation_input_tokens: 7 },
      },
    ], { chunkChars: 3 });
    const message = await sdkAccumulate(await collect(model.stream(request)));
    assert.deepEqual(JSON.parse(JSON.stringify(message.content)), [
      { type: 'thinking', thinking: 'The user wants weather. 🌦️ Use the tool.', signature: 'sig_abc' },
      { type: 'redacted_thinking', data: 'opaque==' },
      { type: 'text', text: 'Let me check — één moment.', citations: null },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: [1, 2] }, caller: { type: 'direct' } },
    ]);
    assert.equal(message.stop_reason, 'tool_use');
    assert.equal(message.model, 'claude-test-1');
    assert.equal(message.usage.input_tokens, 120);
    assert.equal(message.usage.output_tokens, 45);
    assert.equal(message.usage.cache_read_input_tokens, 100);
    assert.equal(message.usage.cache_creation_input_tokens, 7);
  });
});

describe('ScriptedModel failures', () => {
  it('throws a scripted error before any event, with kind, status and retryAfterMs', async () => {
    const model = new ScriptedModel([
      { error: { status: 429, retry_after_s: 3 } },
      { error: { status: 529 } },
      { error: { status: 400, message: 'prompt is too long: 210000 tokens > 200000 maximum' } },
      { error: { status: 500, type: 'api_error', message: 'boom' } },
      { error: { status: 401 } },
      { error: { status: 400 } },
    ]);
    const expected = [
      ['rate_limited', 429, 3000, 'rate_limit_error'],
      ['overloaded', 529, undefined, 'overloaded_error'],
      ['prompt_too_long', 400, undefined, 'invalid_request_error'],
      ['server', 500, undefined, 'api_error'],
      ['authentication', 401, undefined, 'authentication_error'],
      ['invalid_request', 400, undefined, 'invalid_request_error'],
    ] as const;
    for (const [kind, status, retryAfterMs, type] of expected) {
      const { events, error } = await collectUntilError(model.stream(request));
      assert.equal(events.length, 0);
      assert.ok(error instanceof ScriptedApiError, String(error));
      assert.equal(error.kind, kind);
      assert.equal(error.status, status);
      assert.equal(error.retryAfterMs, retryAfterMs);
      assert.equal(error.errorType, type);
    }
  });

  it('drop_after yields that many events and ends without message_stop (never reaching it)', async () => {
    const model = new ScriptedModel([
      { content: [{ type: 'text', text: 'abcdefgh' }], drop_after: 3 },
      { content: [{ type: 'text', text: 'abcdefgh' }], drop_after: 1000 },
    ], { chunkChars: 2 });
    const dropped = await collect(model.stream(request));
    assert.deepEqual(dropped.map((event) => event.type), ['message_start', 'content_block_start', 'content_block_delta']);
    const late = await collect(model.stream(request));
    assert.equal(late.at(-1)?.type, 'message_delta');
    assert.ok(!late.some((event) => event.type === 'message_stop'));
  });

  it('error_after yields that many events, then throws the mid-stream error with its kind and no status', async () => {
    const model = new ScriptedModel([
      { content: [{ type: 'text', text: 'abcdefgh' }], error_after: { events: 2, type: 'overloaded_error' } },
      { content: [{ type: 'text', text: 'x' }], error_after: { events: 1, type: 'api_error', message: 'Internal server error' } },
    ]);
    const first = await collectUntilError(model.stream(request));
    assert.deepEqual(first.events.map((event) => event.type), ['message_start', 'content_block_start']);
    assert.ok(isModelError(first.error, 'overloaded'));
    assert.equal(first.error.status, undefined);
    assert.equal((first.error as ScriptedApiError).errorType, 'overloaded_error');
    const second = await collectUntilError(model.stream(request));
    assert.equal(second.events.length, 1);
    assert.ok(isModelError(second.error, 'server'));
    assert.equal(second.error.message, 'Internal server error');
  });

  it('an abort during delay_ms, chunk_delay_ms, an error delay or a slow script function ends the call in < 200 ms', async () => {
    const steps: ScriptStep[] = [
      { content: [{ type: 'text', text: 'slow' }], delay_ms: 10_000 },
      { content: [{ type: 'text', text: 'slow' }], chunk_delay_ms: 10_000 },
      { error: { status: 529 }, delay_ms: 10_000 },
    ];
    const model = new ScriptedModel((_request, index) => steps[index] ?? new Promise<ScriptStep>(() => {}));
    for (let index = 0; index < 4; index++) {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 50);
      const { error } = await collectUntilError(model.stream(request, { signal: controller.signal }));
      const elapsed = Date.now() - started;
      assert.ok(isModelError(error, 'aborted'), `step ${index}: ${String(error)}`);
      assert.ok(elapsed < 250, `step ${index} took ${elapsed} ms`); // 50 ms until the abort + < 200 ms
    }
    const controller = new AbortController();
    controller.abort();
    const { error } = await collectUntilError(new ScriptedModel([{ content: [] }]).stream(request, { signal: controller.signal }));
    assert.ok(isModelError(error, 'aborted'));
  });

  it('an exhausted script fails as invalid_request by default, or answers "(script exhausted)" with whenExhausted end_turn', async () => {
    const model = new ScriptedModel([{ content: [{ type: 'text', text: 'only one' }] }]);
    await collect(model.stream(request));
    const { error } = await collectUntilError(model.stream(request));
    assert.ok(error instanceof ModelError);
    assert.equal(error.kind, 'invalid_request');
    assert.equal(error.retryable, false);
    assert.match(error.message, /script exhausted after 1 responses/);

    const lenient = new ScriptedModel([], { whenExhausted: 'end_turn' });
    const message = await sdkAccumulate(await collect(lenient.stream(request)));
    assert.deepEqual(message.content, [{ type: 'text', text: '(script exhausted)', citations: null }]);
    assert.equal(message.stop_reason, 'end_turn');
  });
});

describe('ScriptedModel requests', () => {
  it('calls a function script with (request, index), awaiting a promise', async () => {
    const calls: [string, number][] = [];
    const model = new ScriptedModel(async (req, index) => {
      calls.push([String(req.messages[0]?.content), index]);
      return { content: [{ type: 'text', text: `answer ${index}` }] };
    });
    const first = await sdkAccumulate(await collect(model.stream(request)));
    const second = await sdkAccumulate(await collect(model.stream({ ...request, messages: [{ role: 'user', content: 'again' }] })));
    assert.deepEqual(calls, [['What is the weather in Paris?', 0], ['again', 1]]);
    assert.deepEqual(first.content, [{ type: 'text', text: 'answer 0', citations: null }]);
    assert.deepEqual(second.content, [{ type: 'text', text: 'answer 1', citations: null }]);
  });

  it('records a deep copy of every request when the call starts; waitForRequests waits for them', async () => {
    const model = new ScriptedModel([{ content: [] }, { content: [] }]);
    const waited = model.waitForRequests(2);
    const mutable: ModelRequest = structuredClone(request);
    const stream = model.stream(mutable); // not iterated yet: still recorded
    assert.equal(model.requests.length, 1);
    (mutable.messages[0] as { content: string }).content = 'changed';
    mutable.max_tokens = 1;
    assert.deepEqual(model.requests[0], request);
    await collect(stream);
    await collect(model.stream({ ...request, system: 'be brief' }));
    await waited;
    assert.equal(model.requests[1]?.system, 'be brief');
    await assert.rejects(model.waitForRequests(3, 50), /2 of 3 requests/);
  });
});

describe('parseScript / loadScript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oma-script-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts an array or {"steps": [...]}, with every step kind', () => {
    const steps = [
      { content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 3 }, delay_ms: 5, chunk_delay_ms: 1 },
      { content: [{ type: 'tool_use', name: 't', input: { a: 1 } }], drop_after: 2, error_after: { events: 1, type: 'overloaded_error' } },
      { error: { status: 429, retry_after_s: 1 }, delay_ms: 3 },
    ];
    assert.deepEqual(parseScript(steps), steps);
    assert.deepEqual(parseScript({ steps }), steps);
    assert.equal(loadScript(new URL('../../examples/fake-model-script.json', import.meta.url).pathname).length, 2);
  });

  it('names the path of what is wrong', () => {
    assert.throws(() => parseScript({ steps: [{ content: [] }, { content: [{ type: 'tool_use', input: {} }] }] }), /steps\[1\]\.content\[0\]\.name/);
    assert.throws(() => parseScript([{ content: [{ type: 'txt', text: 'x' }] }]), /\[0\]\.content\[0\]\.type/);
    assert.throws(() => parseScript([{ error: { status: 200 } }]), /\[0\]\.error\.status/);
    assert.throws(() => parseScript([{ content: [], stop_reasons: 'end_turn' }]), /\[0\]: .*stop_reasons/);
    assert.throws(() => parseScript({ responses: [] }), /array of steps.*"responses"/);
    assert.throws(() => parseScript('nope'), /array of steps/);
  });

  it('loadScript names the file for unreadable, non-JSON and invalid scripts', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    assert.throws(() => loadScript(bad), (error: Error) => error.message.includes(bad) && /not valid JSON/.test(error.message));
    writeFileSync(bad, '[{"content": [{"type": "text"}]}]');
    assert.throws(() => loadScript(bad), (error: Error) => error.message.includes(bad) && /\[0\]\.content\[0\]\.text/.test(error.message));
    assert.throws(() => loadScript(join(dir, 'missing.json')), /cannot read script/);
  });
});
