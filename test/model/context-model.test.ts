import type { MessageParam, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accumulate } from '../../src/model/accumulate.ts';
import { isModelError } from '../../src/model/errors.ts';
import type { ModelRequest } from '../../src/model/interface.ts';
import { cacheBlocks, ContextLimitedModel, requestTokens } from '../../src/testing/context-model.ts';
import { ScriptedApiError, ScriptedModel } from '../../src/testing/scripted-model.ts';

const cc = { type: 'ephemeral' } as const;
const text = (value: string, cached = false) => ({ type: 'text' as const, text: value, ...(cached ? { cache_control: cc } : {}) });
const req = (messages: MessageParam[], extra: Partial<ModelRequest> = {}): ModelRequest => ({ model: 'claude-test-1', max_tokens: 1024, messages, ...extra });
const fill = (n: number, tag = 'x') => `${tag}:`.padEnd(n, tag);

function setup(window = 100_000, options: { charsPerToken?: number; lookback?: number } = {}) {
  const inner = new ScriptedModel([], { whenExhausted: 'end_turn' });
  return { inner, model: new ContextLimitedModel(inner, { window, ...options }) };
}

const run = (events: AsyncIterable<RawMessageStreamEvent>) => accumulate(events, { onBlock: () => {} });

/** Tokens of blocks[0..last] as the model counts a range. */
function prefixTokens(request: ModelRequest, last: number, charsPerToken = 3) {
  const { blocks } = cacheBlocks(request);
  return Math.ceil(blocks.slice(0, last + 1).join('').length / charsPerToken);
}

describe('ContextLimitedModel: the window', () => {
  it('refuses a request above the window with the API error, without calling the inner model', async () => {
    const { inner, model } = setup(50);
    const request = req([{ role: 'user', content: fill(600) }]);
    const tokens = requestTokens(request);
    assert.ok(tokens > 50, `${tokens} tokens`);
    const error = await run(model.stream(request)).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ScriptedApiError, String(error));
    assert.equal(error.message, `prompt is too long: ${tokens} tokens > 50 maximum`);
    assert.equal(error.status, 400);
    assert.equal(error.errorType, 'invalid_request_error');
    assert.ok(isModelError(error, 'prompt_too_long'), 'kind prompt_too_long');
    assert.equal(inner.requests.length, 0);
    assert.equal(model.reports.length, 1);
    assert.deepEqual({ ...model.reports[0], prefixRatio: 0 }, {
      tokens, refused: true, totalBytes: cacheBlocks(request).blocks.join('\n').length, sharedPrefixBytes: 0, prefixRatio: 0, cacheRead: 0, cacheWrite: 0, uncached: 0, breakpoints: 0,
    });
  });

  it('throws from the iteration, before any event', async () => {
    const { model } = setup(10);
    const events: RawMessageStreamEvent[] = [];
    const stream = model.stream(req([{ role: 'user', content: fill(300) }])); // does not throw itself
    await assert.rejects(async () => {
      for await (const event of stream) events.push(event);
    }, /prompt is too long/);
    assert.equal(events.length, 0);
  });

  it('passes a request under the window; countTokens matches; the window can change at runtime', async () => {
    const { inner, model } = setup(1_000);
    const request = req([{ role: 'user', content: fill(600) }], { system: 'You are terse.' });
    const summary = await run(model.stream(request));
    assert.equal(summary.stopReason, 'end_turn');
    assert.equal(inner.requests.length, 1);
    assert.deepEqual(inner.requests[0], request);
    const counted = await model.countTokens(request);
    assert.equal(counted, model.reports[0]!.tokens);
    assert.equal(counted, requestTokens(request));
    assert.equal(model.reports[0]!.refused, false);

    model.window = counted - 1;
    await assert.rejects(run(model.stream(request)), (e: unknown) => isModelError(e, 'prompt_too_long'));
    assert.equal(await model.countTokens(request), counted, 'countTokens never throws for size');
    assert.equal(inner.requests.length, 1);
    model.window = counted; // exactly at the window passes
    await run(model.stream(request));
    assert.equal(inner.requests.length, 2);
    assert.deepEqual(model.reports.map((r) => r.refused), [false, true, false]);
  });

  it('counts characters / charsPerToken, including tools, a system block array and the model id', () => {
    const request = req([{ role: 'user', content: [text('hi'), text('there')] }], {
      tools: [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: {} } }],
      system: [text('sys one'), text('sys two')],
    });
    const { blocks } = cacheBlocks(request);
    assert.equal(blocks.length, 5);
    const chars = blocks.join('').length + request.model.length;
    assert.equal(requestTokens(request), Math.ceil(chars / 3));
    assert.equal(requestTokens(request, 4), Math.ceil(chars / 4));
    // a string counts as one text block
    assert.deepEqual(cacheBlocks(req([{ role: 'user', content: 'hello' }])).blocks, cacheBlocks(req([{ role: 'user', content: [text('hello')] }])).blocks);
    assert.deepEqual(cacheBlocks(req([], { system: 'sys' })).blocks, cacheBlocks(req([], { system: [text('sys')] })).blocks);
  });

  it('makes a role change part of the serialization', () => {
    const asUser = cacheBlocks(req([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).blocks;
    const turns = cacheBlocks(req([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).blocks;
    assert.equal(asUser[0], turns[0]);
    assert.notEqual(asUser[1], turns[1]);
  });
});

describe('ContextLimitedModel: the prompt cache', () => {
  const turn1: MessageParam[] = [{ role: 'user', content: [text(fill(300, 'a'), true)] }];
  const request1 = req(turn1, { system: [text(fill(200, 's'))] });
  const request2 = req(
    [
      { role: 'user', content: [text(fill(300, 'a'), true)] },
      { role: 'assistant', content: [text(fill(150, 'b'))] },
      { role: 'user', content: [text(fill(240, 'c'), true)] },
    ],
    { system: [text(fill(200, 's'))] },
  );

  it('writes the prefix up to the breakpoint, then reads it back and writes only the new part', async () => {
    const { model } = setup();
    const first = await run(model.stream(request1));
    const r1 = model.reports[0]!;
    assert.equal(r1.breakpoints, 1);
    assert.equal(r1.cacheRead, 0);
    assert.equal(r1.cacheWrite, prefixTokens(request1, 1));
    assert.ok(r1.cacheWrite > 0, 'wrote something');
    assert.equal(r1.uncached, r1.tokens - r1.cacheWrite);
    assert.equal(first.usage.cache_creation_input_tokens, r1.cacheWrite);

    await run(model.stream(request2));
    const r2 = model.reports[1]!;
    assert.deepEqual(cacheBlocks(request2).breakpoints, [1, 3]);
    assert.equal(r2.breakpoints, 2);
    assert.equal(r2.cacheRead, prefixTokens(request1, 1));
    assert.equal(r2.cacheWrite, Math.ceil(cacheBlocks(request2).blocks.slice(2, 4).join('').length / 3));
    assert.equal(r2.cacheRead + r2.cacheWrite + r2.uncached, r2.tokens);

    // the same request again reads everything up to its last breakpoint and writes nothing
    await run(model.stream(request2));
    const r3 = model.reports[2]!;
    assert.equal(r3.cacheRead, prefixTokens(request2, 3));
    assert.equal(r3.cacheWrite, 0);
  });

  it('reads and writes nothing for a request without breakpoints', async () => {
    const { model } = setup();
    await run(model.stream(request1));
    const plain = req([{ role: 'user', content: fill(300, 'a') }], { system: fill(200, 's') });
    assert.deepEqual(cacheBlocks(plain).blocks, cacheBlocks(request1).blocks);
    const summary = await run(model.stream(plain));
    const report = model.reports[1]!;
    assert.deepEqual([report.breakpoints, report.cacheRead, report.cacheWrite, report.uncached], [0, 0, 0, report.tokens]);
    assert.equal(summary.usage.input_tokens, report.tokens);
  });

  it('misses a cached prefix further back than the lookback from every breakpoint', async () => {
    /** `n` alternating messages, one block each, with a breakpoint only on block `marked`. */
    const chain = (n: number, marked: number) =>
      req(Array.from({ length: n }, (_, i): MessageParam => ({ role: i % 2 ? 'assistant' : 'user', content: [text(`message ${i} ${fill(30)}`, i === marked)] })));
    // Both runs cache the prefix ending at block 0, then send a longer request marked only at its end.
    const within = setup(100_000, { lookback: 5 });
    await run(within.model.stream(chain(1, 0)));
    await run(within.model.stream(chain(6, 5)));
    assert.equal(within.model.reports[1]!.cacheRead, prefixTokens(chain(1, 0), 0), 'block 5 looks back to block 0');
    assert.equal(within.model.reports[1]!.cacheWrite, Math.ceil(cacheBlocks(chain(6, 5)).blocks.slice(1, 6).join('').length / 3));

    const beyond = setup(100_000, { lookback: 5 });
    await run(beyond.model.stream(chain(1, 0)));
    await run(beyond.model.stream(chain(7, 6)));
    const report = beyond.model.reports[1]!;
    assert.equal(report.cacheRead, 0, 'block 6 looks back only to block 1');
    assert.equal(report.cacheWrite, prefixTokens(chain(7, 6), 6));
  });

  it('does not let cache_control markers change the canonical blocks', async () => {
    const marked = req([{ role: 'user', content: [text('one', true), text('two')] }], { system: [text('sys', true)], tools: [{ name: 't', input_schema: { type: 'object' }, cache_control: cc }] });
    const bare = req([{ role: 'user', content: [text('one'), text('two')] }], { system: [text('sys')], tools: [{ name: 't', input_schema: { type: 'object' } }] });
    assert.deepEqual(cacheBlocks(marked).blocks, cacheBlocks(bare).blocks);
    assert.deepEqual(cacheBlocks(marked).breakpoints, [0, 1, 2]);
    assert.deepEqual(cacheBlocks(bare).breakpoints, []);
    assert.equal(requestTokens(marked), requestTokens(bare));
    // same hashes: a prefix written by the marked request is read by a marked-elsewhere one
    const { model } = setup();
    await run(model.stream(marked));
    await run(model.stream(bare));
    const moved = req([{ role: 'user', content: [text('one', true), text('two', true)] }], { system: [text('sys')], tools: [{ name: 't', input_schema: { type: 'object' } }] });
    await run(model.stream(moved));
    assert.equal(model.reports[1]!.sharedPrefixBytes, model.reports[1]!.totalBytes);
    assert.equal(model.reports[2]!.cacheRead, prefixTokens(moved, 2));
  });

  it('folds to exactly the reported usage after accumulate, keeping the inner output tokens', async () => {
    const inner = new ScriptedModel([{ content: [text('the answer')], usage: { input_tokens: 9999, output_tokens: 42, cache_read_input_tokens: 7, cache_creation_input_tokens: 5 } }], { whenExhausted: 'end_turn' });
    const model = new ContextLimitedModel(inner, { window: 100_000 });
    const events: RawMessageStreamEvent[] = [];
    const summary = await run(
      (async function* () {
        for await (const event of model.stream(request1)) yield (events.push(event), event);
      })(),
    );
    const r = model.reports[0]!;
    assert.deepEqual(summary.usage, { input_tokens: r.uncached, cache_read_input_tokens: r.cacheRead, cache_creation_input_tokens: r.cacheWrite, output_tokens: 42 });
    assert.equal(r.cacheRead + r.cacheWrite + r.uncached, r.tokens);
    const start = events.find((e) => e.type === 'message_start');
    assert.equal(start?.type === 'message_start' && start.message.usage.cache_creation?.ephemeral_5m_input_tokens, r.cacheWrite);

    await run(model.stream(request2));
    const r2 = model.reports[1]!;
    assert.ok(r2.cacheRead > 0 && r2.cacheWrite > 0 && r2.uncached > 0, JSON.stringify(r2));
    assert.equal(r2.cacheRead + r2.cacheWrite + r2.uncached, r2.tokens);
  });

  it('passes inner errors through unchanged, and the abort signal', async () => {
    const inner = new ScriptedModel([{ error: { status: 529 } }, { content: [text('slow')], delay_ms: 5_000 }]);
    const model = new ContextLimitedModel(inner, { window: 100_000 });
    await assert.rejects(run(model.stream(request1)), (e: unknown) => e instanceof ScriptedApiError && e.kind === 'overloaded' && e.status === 529);
    // the failed call wrote nothing to the cache
    const controller = new AbortController();
    const pending = run(model.stream(request1, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, (e: unknown) => isModelError(e, 'aborted'));
    assert.equal(model.reports[1]!.cacheRead, 0);
  });
});

describe('ContextLimitedModel: the prefix report', () => {
  it('shares the whole previous serialization when a request only appends', async () => {
    const { model } = setup();
    const request = req([{ role: 'user', content: fill(300, 'a') }]);
    await run(model.stream(request));
    await run(model.stream(req([...request.messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'more' }])));
    const [r1, r2] = model.reports;
    assert.equal(r1!.prefixRatio, 0);
    assert.equal(r1!.sharedPrefixBytes, 0);
    assert.equal(r2!.sharedPrefixBytes, r1!.totalBytes);
    assert.equal(r2!.prefixRatio, r1!.totalBytes / r2!.totalBytes);
    assert.ok(r2!.prefixRatio > 0.8, `ratio ${r2!.prefixRatio}`);
  });

  it('gives a small ratio when an early block changes, and ignores refused requests', async () => {
    const { model } = setup(400);
    const tail: MessageParam[] = [{ role: 'assistant', content: fill(300, 'b') }, { role: 'user', content: fill(300, 'c') }];
    await run(model.stream(req([{ role: 'user', content: 'alpha version' }, ...tail])));
    // refused, though it shares a long prefix with the next request: it must not become "previous"
    await assert.rejects(run(model.stream(req([{ role: 'user', content: 'omega version' }, ...tail, { role: 'assistant', content: fill(3000) }]))), /prompt is too long/);
    await run(model.stream(req([{ role: 'user', content: 'omega version' }, ...tail])));
    const [first, refused, changed] = model.reports;
    assert.equal(refused!.refused, true);
    const header = 'user: {"type":"text","text":"'.length; // the same up to the changed text
    assert.equal(refused!.sharedPrefixBytes, header);
    assert.equal(changed!.sharedPrefixBytes, header, 'compared with the first request, not the refused one');
    assert.equal(changed!.totalBytes, first!.totalBytes);
    assert.ok(changed!.prefixRatio < 0.05, `ratio ${changed!.prefixRatio}`);
  });
});
