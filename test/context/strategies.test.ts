import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionHistory } from '../../src/brain/history.ts';
import { layoutForCache, withoutCacheLayout } from '../../src/context/cache-layout.ts';
import { compactableTokens, compactionBoundary, compactionReason, isCompactionRequest, transcriptChunks, wholeRequest } from '../../src/context/compaction.ts';
import { replay } from '../../src/context/replay.ts';
import { checkContextMetadata, contextSettings, STRATEGIES } from '../../src/context/settings.ts';
import { parseTooLong } from '../../src/context/tokens.ts';
import { budgetFor, buildView, newViewMemo } from '../../src/context/view.ts';
import { accumulate } from '../../src/model/accumulate.ts';
import type { ModelRequest } from '../../src/model/interface.ts';
import type { StoredEvent } from '../../src/session/interface.ts';
import { ContextLimitedModel } from '../../src/testing/context-model.ts';
import { loadRecorded } from '../../src/testing/long-session.ts';
import { ScriptedModel } from '../../src/testing/scripted-model.ts';
import { checkMessages } from '../brain/support.ts';

/** Strategies as pure functions, replayed on a recorded 200-turn session (test/context/record.ts). */

const recorded = loadRecorded(new URL('long-session.jsonl.gz', import.meta.url).pathname);
const WINDOW = 40_000;

type Block = { type: string; tool_use_id?: string; content?: { type: string; text: string }[]; text?: string; cache_control?: unknown };
const blocksOf = (request: ModelRequest) => request.messages.flatMap((message) => (typeof message.content === 'string' ? [] : (message.content as Block[])));

async function replayed(strategy: (typeof STRATEGIES)[number], window = WINDOW) {
  const model = new ContextLimitedModel(new ScriptedModel([], { whenExhausted: 'end_turn' }), { window, charsPerToken: 4 });
  const { requests, history } = await replay(recorded, {
    strategy,
    window,
    maxTokens: 4_096,
    send: async (request) => {
      await accumulate(model.stream(request), { onBlock() {} }).catch(() => {});
    },
  });
  return { requests, history, reports: model.reports };
}

describe('context strategies on a recorded long session', () => {
  for (const strategy of STRATEGIES) {
    it(`[CTX-1] ${strategy}: every request is valid and fits the window; every tool result is sent whole in the request right after it`, async () => {
      const { requests, reports } = await replayed(strategy);
      const turns = requests.filter((request) => request.kind === 'turn');
      assert.equal(turns.length, recorded.events.filter((event) => event.type === 'span.model_request_start').length);
      assert.equal(reports.filter((report) => report.refused).length, 0, 'nothing refused');
      for (const turn of turns) checkMessages(turn.request.messages);
      for (const result of recorded.events.filter((event) => event.type === 'agent.tool_result')) {
        const next = turns.find((turn) => turn.atSeq > result.seq)!;
        const sent = blocksOf(next.request).find((block) => block.type === 'tool_result' && block.tool_use_id === result.payload.tool_use_id);
        assert.equal(sent?.content?.[0]?.text, (result.payload.content as { text: string }[])[0]!.text, `result ${result.id} whole in the next request`);
      }
    });
  }

  it('[CTX-1] the view is a pure function: the same events give the same request, memo or not', () => {
    const history = new SessionHistory(recorded.events);
    const budget = budgetFor(WINDOW, 4_096, 0.8);
    const build = (memo = newViewMemo()) => buildView({ events: history.events, state: history.context, agent: recorded.agent, strategy: 'compact', budget, logTool: true, memo, fit: true }).request;
    const memo = newViewMemo();
    buildView({ events: history.events.slice(0, 400), state: new SessionHistory(history.events.slice(0, 400)).context, agent: recorded.agent, strategy: 'compact', budget, logTool: true, memo });
    assert.deepEqual(build(memo), build());
    assert.deepEqual(build(), build());
  });

  it('[CTX-3] trimming replaces old tool results with placeholders naming their event, moving forward only and rarely', async () => {
    const { requests } = await replayed('trim');
    const turns = requests.filter((request) => request.kind === 'turn');
    const everTrimmed = new Set<string>();
    let trimmedBefore = new Set<string>();
    let changes = 0;
    for (const turn of turns) {
      const results = blocksOf(turn.request).filter((block) => block.type === 'tool_result');
      const placeholders = results.filter((block) => block.content?.[0]?.text.startsWith('[tool result trimmed'));
      const trimmed = new Set(placeholders.map((block) => block.tool_use_id!));
      for (const block of placeholders) assert.match(block.content![0]!.text, /event sevt_\w+\]$/);
      // Forward only: once trimmed, a result is never sent whole again (a compaction may drop it altogether).
      for (const block of results) assert.ok(trimmed.has(block.tool_use_id!) || !everTrimmed.has(block.tool_use_id!), `${block.tool_use_id} stays trimmed`);
      if ([...trimmed].some((id) => !trimmedBefore.has(id))) changes++;
      for (const id of trimmed) everTrimmed.add(id);
      trimmedBefore = trimmed;
    }
    assert.ok(everTrimmed.size > 50, `${everTrimmed.size} results trimmed`);
    assert.ok(changes <= turns.length / 8, `the trim point moved ${changes} times in ${turns.length} requests`);
  });

  it('[CTX-4] compaction: later requests start from the summary, then the events after its boundary; the compaction request extends the last request seen', async () => {
    const { requests } = await replayed('compact', 20_000);
    const compactions = requests.filter((request) => request.kind === 'compaction');
    assert.ok(compactions.length >= 1, 'compacted');
    for (const compaction of compactions) {
      assert.ok(isCompactionRequest(compaction.request));
      assert.deepEqual(compaction.request.tool_choice, { type: 'none' });
      const previous = requests[requests.indexOf(compaction) - 1]!;
      const shared = withoutCacheLayout(compaction.request).messages.slice(0, -1);
      assert.deepEqual(shared, withoutCacheLayout(previous.request).messages.slice(0, shared.length), 'it shares the conversation the model last saw');
    }
    const after = requests[requests.indexOf(compactions[0]!) + 1]!;
    const first = blocksOf(after.request)[0]!;
    assert.match(first.text!, /^The earlier part of this session \(its events up to sevt_\w+\) was compacted/);
    assert.match(first.text!, /<summary>\nStand-in summary of the events before seq \d+/);
  });
});

let seq = 0;
function ev(type: string, payload: Record<string, unknown> = {}): StoredEvent {
  seq++;
  return { sessionId: 'sesn_x', seq, id: `sevt_${seq}`, type, payload, createdAt: new Date(0) };
}

/** A tool loop of `rounds` rounds, each with thinking, a call and a `bytes`-long result. */
function loop(rounds: number, bytes: number): StoredEvent[] {
  const message = ev('user.message', { content: [{ type: 'text', text: 'go' }], processed_at: null });
  const events = [message, ev('oma.processed', { event_id: message.id, processed_at: new Date(0).toISOString() })];
  for (let round = 0; round < rounds; round++) {
    const start = ev('span.model_request_start');
    const thinking = ev('agent.thinking', { _oma: { blocks: [{ type: 'thinking', thinking: `round ${round} `.repeat(200), signature: 'sig' }] } });
    const use = ev('agent.tool_use', { name: 'bash', input: { command: `step ${round}` }, evaluated_permission: 'allow' });
    const end = ev('span.model_request_end', { model_request_start_id: start.id, is_error: false, model_usage: { input_tokens: 10 }, _oma: { stop_reason: 'tool_use' } });
    const result = ev('agent.tool_result', { tool_use_id: use.id, content: [{ type: 'text', text: `${round}:`.padEnd(bytes, 'y') }], is_error: false });
    events.push(start, thinking, use, end, result);
  }
  return events;
}

describe('context strategies, piece by piece', () => {
  it('[CTX-3] old thinking becomes a placeholder naming its event; the newest answer keeps its thinking whole', () => {
    const events = loop(40, 4_000);
    const history = new SessionHistory(events);
    const view = buildView({ events, state: history.context, agent: { model: 'm' }, strategy: 'trim', budget: budgetFor(20_000, 2_000, 0.8), logTool: true, memo: newViewMemo() });
    const assistant = view.request.messages.filter((message) => message.role === 'assistant').map((message) => message.content as Block[]);
    assert.match(assistant[0]![0]!.text!, /^\[earlier thinking trimmed from this view: event sevt_\d+\]$/);
    assert.equal(assistant.at(-1)![0]!.type, 'thinking', 'the newest thinking is kept');
    const placeholder = blocksOf(view.request).find((block) => block.type === 'tool_result' && block.content?.[0]?.text.startsWith('[tool result trimmed'))!;
    assert.match(placeholder.content![0]!.text, /read it again with read_session_log \(action "get", event_id "sevt_\d+"\)/);
    checkMessages(view.request.messages);
  });

  it('[CTX-4] a compaction boundary is a request start the model answered with no tool use open', () => {
    const events = loop(5, 100);
    const history = new SessionHistory(events);
    const boundary = compactionBoundary(history.context)!;
    const at = events.find((event) => event.seq === boundary)!;
    assert.equal(at.type, 'span.model_request_start');
    assert.equal(boundary, events.filter((event) => event.type === 'span.model_request_start').at(-1)!.seq, 'the newest answered start');
    // An unanswered request is not a boundary; after a compaction, only later starts are.
    const open = [...events, ev('span.model_request_start')];
    assert.equal(compactionBoundary(new SessionHistory(open).context), boundary);
    const compacted = [...events, ev('agent.thread_context_compacted', { pre_compaction_tokens: 1, _oma: { summary: 's', boundary_seq: boundary } })];
    assert.equal(compactionBoundary(new SessionHistory(compacted).context), undefined);
  });

  it('[CTX-4] chunked compaction: transcript chunks stay under their size, cover every event, and cut a huge one in the middle', () => {
    const events = loop(30, 3_000);
    events.push(ev('agent.tool_result', { tool_use_id: 'x', content: [{ type: 'text', text: 'z'.repeat(50_000) }], is_error: false }));
    const chunks = transcriptChunks(events, 0, events.length, 10_000);
    assert.ok(chunks.length > 5);
    for (const chunk of chunks) assert.ok(chunk.length <= 10_000, `chunk of ${chunk.length}`);
    const text = chunks.join('');
    for (const event of events.filter((event) => event.type === 'agent.tool_result')) assert.ok(text.includes(event.id), `${event.id} in the transcript`);
    assert.match(text, /characters left out/);
    assert.ok(!text.includes('_oma') && !text.includes('oma.processed'), 'no internal events or private data');
  });

  it('[CTX-4] the whole compaction request is the view plus the instruction, with tools kept and not callable', () => {
    const request: ModelRequest = { model: 'm', max_tokens: 100, tools: [{ name: 't', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] };
    const whole = wholeRequest(request, 50);
    assert.equal(whole.max_tokens, 50);
    assert.deepEqual(whole.tool_choice, { type: 'none' });
    assert.deepEqual((whole.messages[0]!.content as Block[])[0], { type: 'text', text: 'hi' });
    assert.ok(isCompactionRequest(whole) && !isCompactionRequest(request));
  });

  it('[CTX-2] the cache layout: at most four breakpoints, on the fixed part, the previous request\'s end and this one\'s; removing it gives the plain request back', () => {
    const events = loop(6, 200);
    const history = new SessionHistory(events);
    const plain = buildView({ events, state: history.context, agent: { model: 'm', system: 'sys' }, strategy: 'none', budget: budgetFor(200_000, 4_096, 0.8), logTool: false, memo: newViewMemo() }).request;
    const laidOut = layoutForCache(plain);
    assert.deepEqual(withoutCacheLayout(laidOut), plain);
    assert.deepEqual(laidOut.system, [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }]);
    const marked = laidOut.messages.flatMap((message, index) => (message.content as Block[]).flatMap((block, at) => (block.cache_control ? [[index, at]] : [])));
    const last = laidOut.messages.length - 1;
    assert.deepEqual(marked, [
      [last - 2, (laidOut.messages[last - 2]!.content as Block[]).length - 1],
      [last, (laidOut.messages[last]!.content as Block[]).length - 1],
    ]);
  });

  it('[CTX-10] a PDF and an image named by file id count by their content, not their reference: a seen large PDF makes compaction worthwhile', () => {
    const message = ev('user.message', { content: [{ type: 'document', source: { type: 'file', file_id: 'file_pdf' } }, { type: 'image', source: { type: 'file', file_id: 'file_png' } }, { type: 'text', text: 'Summarise this.' }], processed_at: null });
    const taken = ev('oma.processed', { event_id: message.id });
    const start = ev('span.model_request_start');
    const answer = ev('agent.message', { content: [{ type: 'text', text: 'It is about builds.' }] });
    const end = ev('span.model_request_end', { model_request_start_id: start.id, is_error: false, model_usage: { input_tokens: 10 } });
    const next = ev('user.message', { content: [{ type: 'text', text: 'And chapter 3?' }], processed_at: null });
    const events = [message, taken, start, answer, end, next, ev('oma.processed', { event_id: next.id }), ev('span.model_request_start')];
    const history = new SessionHistory(events);
    const files = new Map([['file_pdf', { mediaType: 'application/pdf', data: 'A'.repeat(17_000 * 30) }], ['file_png', { mediaType: 'image/png', data: 'B'.repeat(3_000_000) }]]);
    const budget = budgetFor(20_000, 1_000, 0.8);
    const memo = newViewMemo();
    const view = buildView({ events, state: history.context, agent: { model: 'm', system: 'sys' }, strategy: 'compact', budget, logTool: false, memo, request: { files } });
    assert.ok(view.raw > 18_000 && view.raw < 19_500, `estimate ${view.raw}: ~17,000 for the PDF and 1,600 for the image, not 750,000 for its base64`);
    const compactable = compactableTokens(events, 0, compactionBoundary(history.context)!, history.context, memo.sizes);
    assert.ok(compactable > 18_000, `compactable ${compactable}`);
    assert.equal(compactionReason(view.estimate, compactable, budget, 'compact')?.reason, 'window');
  });

  it('[CTX-10] estimates are calibrated from the model\'s counts; a refusal\'s numbers are read in both of the API\'s wordings', () => {
    const start = ev('span.model_request_start');
    const end = ev('span.model_request_end', { model_request_start_id: start.id, is_error: false, model_usage: { input_tokens: 100, cache_read_input_tokens: 900, cache_creation_input_tokens: 200 }, _oma: { estimate: 1_000 } });
    const history = new SessionHistory([start, end]);
    assert.equal(history.context.calibration, 1.2);
    assert.deepEqual(parseTooLong('prompt is too long: 208310 tokens > 200000 maximum'), { tokens: 208_310, window: 200_000 });
    assert.deepEqual(parseTooLong('input length and `max_tokens` exceed context limit: 195000 + 16384 > 200000, decrease input length or `max_tokens` and try again'), { tokens: 195_000, window: 200_000 });
    assert.deepEqual(parseTooLong('something else'), {});
  });

  it('[CTX-1] settings: agent metadata over the server defaults over the nominal window; bad values are a 400 naming the key', () => {
    assert.deepEqual(contextSettings('claude-x', {}), { strategy: 'compact', window: 200_000, compactAt: 0.8, sessionLogTool: false });
    assert.deepEqual(contextSettings('claude-x', {}, { strategy: 'trim', window: 50_000, compactAt: 0.5 }), { strategy: 'trim', window: 50_000, compactAt: 0.5, sessionLogTool: false });
    assert.deepEqual(contextSettings('claude-x', { 'oma.context': 'cache', 'oma.context_window': '30000', 'oma.compact_at': '0.6', 'oma.session_log_tool': 'enabled' }), { strategy: 'cache', window: 30_000, compactAt: 0.6, sessionLogTool: true });
    for (const [key, value, message] of [
      ['oma.context', 'everything', /oma\.context must be one of none, cache, trim, compact/],
      ['oma.context_window', '12.5', /oma\.context_window must be a whole number of tokens/],
      ['oma.compact_at', '1', /oma\.compact_at must be a fraction from 0\.1 to 0\.95/],
      ['oma.session_log_tool', 'yes', /oma\.session_log_tool must be "enabled" or "disabled"/],
    ] as const) {
      assert.throws(() => checkContextMetadata({ [key]: value }), (error: Error & { details?: { error_code?: string } }) => message.test(error.message) && error.details?.error_code === 'invalid_metadata');
    }
  });
});

