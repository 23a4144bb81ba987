import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSessionLog, SESSION_LOG_DEFINITION, SESSION_LOG_TOOL } from '../../src/brain/session-log-tool.ts';
import type { StoredEvent } from '../../src/session/interface.ts';

/** Private data that must never reach the model through the tool. */
const CANARY = 'CANARY-private-7f3a9';
const T0 = Date.parse('2026-01-02T03:04:05.000Z');

/** A 48,213-character tool output, every line distinct, so a wrong page boundary shows. */
const HUGE = Array.from({ length: 2000 }, (_, i) => `line ${i}: ${'abcdefghij'.repeat(2)}\n`).join('').slice(0, 48_213);

function logOf(specs: [type: string, payload?: Record<string, unknown>][]): StoredEvent[] {
  return specs.map(([type, payload = {}], index) => ({
    sessionId: 'sesn_test',
    seq: index + 1,
    id: `sevt_${String(index + 1).padStart(3, '0')}`,
    type,
    payload,
    createdAt: new Date(T0 + index * 1000),
  }));
}

const text = (value: string) => [{ type: 'text', text: value }];

// Public positions in comments (#N); internal events have none.
const LOG = logOf([
  ['user.message', { content: text('Please fix the failing build'), processed_at: null }], // #1 sevt_001
  ['oma.processed', { event_id: 'sevt_001', processed_at: '2026-01-02T03:04:06.000Z', note: CANARY }], // sevt_002
  ['session.status_running'], // #2 sevt_003
  ['span.model_request_start'], // #3 sevt_004
  ['agent.thinking', { _oma: { blocks: [{ type: 'thinking', thinking: CANARY, signature: 'sig' }] } }], // #4 sevt_005
  ['agent.message', { content: text("I'll look at the build log.") }], // #5 sevt_006
  ['agent.tool_use', { name: 'bash', input: { command: 'cat build.log' }, evaluated_permission: 'allow', _oma: { tool_name: CANARY } }], // #6 sevt_007
  ['span.model_request_end', { model_request_start_id: 'sevt_004', is_error: false, model_usage: { input_tokens: 120, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 7 }, _oma: { stop_reason: CANARY } }], // #7 sevt_008
  ['agent.tool_result', { tool_use_id: 'sevt_007', content: text(HUGE), is_error: false, _oma: { trace: CANARY } }], // #8 sevt_009
  ['oma.span', { name: 'sandbox_disposed', detail: CANARY }], // sevt_010
  ['agent.tool_use', { name: 'read', input: { file_path: 'src/x.ts' }, evaluated_permission: 'allow' }], // #9 sevt_011
  ['agent.tool_result', { tool_use_id: 'sevt_011', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }, { type: 'document', title: 'spec.pdf', source: { type: 'url', url: 'https://x/spec.pdf' } }, ...text('const x = 1')], is_error: true }], // #10 sevt_012
  ['agent.custom_tool_use', { name: 'get_weather', input: { city: 'Paris' } }], // #11 sevt_013
  ['user.custom_tool_result', { custom_tool_use_id: 'sevt_013', content: text('21°C, Sunny') }], // #12 sevt_014
  ['session.error', { error: { type: 'model_overloaded_error', message: 'Overloaded', retry_status: { type: 'retrying' } } }], // #13 sevt_015
  ['agent.message', { content: text('The build is fixed: a missing SEMICOLON.'), _oma: { note: CANARY } }], // #14 sevt_016
  ['session.status_idle', { stop_reason: { type: 'end_turn' }, stop_details: null }], // #15 sevt_017
]);
const PUBLIC = LOG.filter((event) => !event.type.startsWith('oma.'));

function ok(input: Record<string, unknown>, events: readonly StoredEvent[] = LOG): string {
  const answer = readSessionLog(events, input);
  assert.equal(answer.isError, false, answer.text);
  assertPublicOnly(answer.text, events === LOG);
  return answer.text;
}

function fails(input: Record<string, unknown>, mentions: RegExp) {
  const answer = readSessionLog(LOG, input);
  assert.equal(answer.isError, true, `expected an error for ${JSON.stringify(input)}`);
  assert.match(answer.text, mentions);
  return answer.text;
}

function assertPublicOnly(answer: string, internalIds = true) {
  assert.ok(!answer.includes(CANARY), 'private data leaked');
  assert.ok(!answer.includes('_oma'), 'private key leaked');
  assert.ok(!/\boma\.(processed|span)\b/.test(answer), 'internal event shown');
  if (internalIds) assert.ok(!answer.includes('sevt_002') && !answer.includes('sevt_010'), 'internal event id shown');
}

/** The events listed in an answer, by their header lines. */
function headers(answer: string) {
  return [...answer.matchAll(/^#(\d+) (sevt_\S+) (\S+) (\S+)$/gm)].map(([, position, id, type, time]) => ({ position: Number(position), id, type, time }));
}

/** The body of a `get` answer (after the header and the range line). */
function page(answer: string) {
  const [head, range] = answer.split('\n', 2);
  return { head: head!, range: range!, content: answer.slice(head!.length + range!.length + 2) };
}

describe('read_session_log', () => {
  it('is defined for the model: name, when to use it, and a documented schema', () => {
    assert.equal(SESSION_LOG_DEFINITION.name, SESSION_LOG_TOOL);
    assert.equal(SESSION_LOG_TOOL, 'read_session_log');
    assert.match(SESSION_LOG_DEFINITION.description!, /compact/);
    assert.match(SESSION_LOG_DEFINITION.description!, /trimmed/);
    const schema = SESSION_LOG_DEFINITION.input_schema as { properties: Record<string, { description?: string }>; required: string[] };
    assert.deepEqual(schema.required, ['action']);
    assert.deepEqual(Object.keys(schema.properties).sort(), ['action', 'count', 'event_id', 'max_chars', 'offset', 'text', 'types']);
    for (const [key, property] of Object.entries(schema.properties)) assert.ok(property.description, `${key} has a description`);
  });

  it('get: one event whole, with its header', () => {
    const answer = ok({ action: 'get', event_id: 'sevt_016' });
    const { head, range, content } = page(answer);
    assert.equal(head, '#14 sevt_016 agent.message 2026-01-02T03:04:20.000Z');
    assert.equal(range, 'characters 0–40 of 40 (whole)');
    assert.equal(content, 'The build is fixed: a missing SEMICOLON.');
  });

  it('get: pages of a huge event reconstruct its content exactly', () => {
    const expected = `result of sevt_007, is_error: false\n${HUGE}`;
    let offset = 0;
    let rebuilt = '';
    let pages = 0;
    for (;;) {
      const { head, range, content } = page(ok({ action: 'get', event_id: 'sevt_009', offset, max_chars: 5000 }));
      assert.equal(head, '#8 sevt_009 agent.tool_result 2026-01-02T03:04:13.000Z');
      assert.ok(content.length <= 5000);
      assert.match(range, new RegExp(`^characters ${offset}–\\d+ of ${expected.length} `));
      rebuilt += content;
      pages++;
      const next = /next offset: (\d+)/.exec(range);
      if (!next) break;
      offset = Number(next[1]);
    }
    assert.equal(pages, Math.ceil(expected.length / 5000));
    assert.equal(rebuilt, expected);
    // Default: the first 8000 characters, and where to go on.
    const first = page(ok({ action: 'get', event_id: 'sevt_009' }));
    assert.equal(first.range, `characters 0–8000 of ${expected.length} (next offset: 8000)`);
    assert.equal(first.content, expected.slice(0, 8000));
    fails({ action: 'get', event_id: 'sevt_009', offset: expected.length }, /`offset` \d+ is past the end: event sevt_009 has 48249 characters/);
  });

  it('renders each kind of event compactly, private parts hidden', () => {
    const content = (id: string) => page(ok({ action: 'get', event_id: id })).content;
    assert.equal(page(ok({ action: 'get', event_id: 'sevt_005' })).content, '(thinking, not shown)');
    assert.equal(content('sevt_007'), 'tool: bash, permission: allow\ninput: {"command":"cat build.log"}');
    assert.equal(content('sevt_012'), 'result of sevt_011, is_error: true\n[image]\n[document spec.pdf]\nconst x = 1');
    assert.equal(content('sevt_013'), 'tool: get_weather\ninput: {"city":"Paris"}');
    assert.equal(content('sevt_014'), 'result of sevt_013, is_error: false\n21°C, Sunny');
    assert.equal(content('sevt_015'), 'model_overloaded_error: Overloaded (retry_status: retrying)');
    assert.equal(content('sevt_017'), 'stop reason: end_turn');
    assert.equal(content('sevt_008'), 'usage: input 120, output 30, cache read 7, cache write 0');
    assert.equal(ok({ action: 'get', event_id: 'sevt_004' }), '#3 sevt_004 span.model_request_start 2026-01-02T03:04:08.000Z\n(no content)');
  });

  it('before: the newest events of the log, or those before an event, oldest first', () => {
    const last = ok({ action: 'before', count: 3 });
    assert.deepEqual(headers(last).map((h) => h.id), ['sevt_015', 'sevt_016', 'sevt_017']);
    assert.match(last, /15 in all/);
    assert.match(last, /12 earlier events: use action "before" with event_id sevt_015/);

    const answer = ok({ action: 'before', event_id: 'sevt_009', count: 2 });
    assert.deepEqual(headers(answer).map((h) => [h.position, h.id, h.type]), [[6, 'sevt_007', 'agent.tool_use'], [7, 'sevt_008', 'span.model_request_end']]);
    assert.match(answer, /5 earlier events: use action "before" with event_id sevt_007/);

    const filtered = ok({ action: 'before', event_id: 'sevt_016', types: ['agent.message', 'user.message'] });
    assert.deepEqual(headers(filtered).map((h) => h.id), ['sevt_001', 'sevt_006']);
    assert.ok(!/earlier/.test(filtered));
    assert.equal(ok({ action: 'before', event_id: 'sevt_001' }), 'No events before #1 sevt_001.');
    assert.equal(ok({ action: 'before' }, []), 'No events in the log yet.');
  });

  it('around: the neighbours of a tool call include its result', () => {
    const answer = ok({ action: 'around', event_id: 'sevt_007', count: 5 });
    assert.deepEqual(headers(answer).map((h) => h.id), ['sevt_005', 'sevt_006', 'sevt_007', 'sevt_008', 'sevt_009']);
    assert.match(answer, /input: \{"command":"cat build\.log"\}/);
    assert.match(answer, /result of sevt_007, is_error: false\nline 0: /);
    // The huge result is cut, saying how to read it whole.
    assert.match(answer, new RegExp(`… \\(${48_249 - 1500} more characters: get event sevt_009 to read it whole\\)`));

    const pair = ok({ action: 'around', event_id: 'sevt_007', count: 2, types: ['agent.tool_use', 'agent.tool_result'] });
    assert.deepEqual(headers(pair).map((h) => h.id), ['sevt_007', 'sevt_009']);
    // At the edges of the log it still gives `count` events.
    assert.deepEqual(headers(ok({ action: 'around', event_id: 'sevt_001', count: 3 })).map((h) => h.position), [1, 2, 3]);
    assert.deepEqual(headers(ok({ action: 'around', event_id: 'sevt_017', count: 3 })).map((h) => h.position), [13, 14, 15]);
  });

  it('search: by type and by text, newest first, paged back with event_id', () => {
    const uses = ok({ action: 'search', types: ['agent.tool_use'], count: 1 });
    assert.deepEqual(headers(uses).map((h) => h.id), ['sevt_011']);
    assert.match(uses, /1 older match: search again with event_id sevt_011/);
    const older = ok({ action: 'search', types: ['agent.tool_use'], count: 1, event_id: 'sevt_011' });
    assert.deepEqual(headers(older).map((h) => h.id), ['sevt_007']);
    assert.ok(!/older matches/.test(older));
    assert.match(ok({ action: 'search', types: ['agent.tool_use'], event_id: 'sevt_007' }), /^No agent\.tool_use events before #6 sevt_007\.$/);

    const results = ok({ action: 'search', types: ['agent.tool_result', 'user.custom_tool_result'] });
    assert.deepEqual(headers(results).map((h) => h.id), ['sevt_014', 'sevt_012', 'sevt_009']);

    assert.deepEqual(headers(ok({ action: 'search', text: 'semicolon' })).map((h) => h.id), ['sevt_016']);
    assert.deepEqual(headers(ok({ action: 'search', text: 'SUNNY' })).map((h) => h.id), ['sevt_014']);
    assert.deepEqual(headers(ok({ action: 'search', text: 'LINE 1234:' })).map((h) => h.id), ['sevt_009']);
    assert.deepEqual(headers(ok({ action: 'search', text: 'build', types: ['agent.message'] })).map((h) => h.id), ['sevt_016', 'sevt_006']);
    assert.equal(ok({ action: 'search', text: 'nowhere to be found' }), 'No events containing "nowhere to be found".');
    // Private data is not searchable.
    const hidden = readSessionLog(LOG, { action: 'search', text: CANARY.toLowerCase() });
    assert.equal(hidden.isError, false);
    assert.deepEqual(headers(hidden.text), []);
  });

  it('count: 1 to 50, default 10', () => {
    const long = logOf(Array.from({ length: 80 }, (_, i) => ['agent.message', { content: text(`message ${i}`) }] as [string, Record<string, unknown>]));
    assert.equal(headers(ok({ action: 'before' }, long)).length, 10);
    assert.equal(headers(ok({ action: 'before', count: 50 }, long)).length, 50);
    assert.equal(headers(ok({ action: 'search', text: 'message', count: 1 }, long)).length, 1);
    assert.equal(headers(ok({ action: 'around', event_id: 'sevt_040', count: 50 }, long)).length, 50);
    for (const count of [0, 51, 2.5, '10', -1]) fails({ action: 'before', count }, /`count` must be an integer from 1 to 50/);
  });

  it('invalid input gives an error naming the field and what is allowed', () => {
    fails({}, /`action` must be one of "get", "before", "around", "search" \(got nothing\)/);
    fails({ action: 'list' }, /`action` must be one of .* \(got "list"\)/);
    fails({ action: 'get' }, /`event_id` is required for action "get"/);
    fails({ action: 'around' }, /`event_id` is required for action "around"/);
    fails({ action: 'get', event_id: 'sevt_999' }, /`event_id`: no event sevt_999/);
    fails({ action: 'get', event_id: 'sevt_002' }, /`event_id`: no event sevt_002/); // internal: as if unknown
    fails({ action: 'before', event_id: 42 }, /`event_id` must be an event id string/);
    fails({ action: 'search', types: 'agent.tool_use' }, /`types` must be a non-empty array/);
    fails({ action: 'search', types: [] }, /`types` must be a non-empty array/);
    fails({ action: 'search', types: ['agent.tool_use', 7] }, /`types\[1\]` must be an event type/);
    fails({ action: 'get', event_id: 'sevt_001', types: ['user.message'] }, /`types` filters "before", "around" and "search"/);
    fails({ action: 'before', text: 'x' }, /`text` is only for action "search"/);
    fails({ action: 'search', text: '' }, /`text` must be a non-empty string/);
    fails({ action: 'search' }, /action "search" needs `types` and\/or `text`/);
    fails({ action: 'get', event_id: 'sevt_001', offset: -1 }, /`offset` must be an integer of at least 0/);
    fails({ action: 'before', offset: 10 }, /`offset` .* only for action "get"/);
    for (const max_chars of [99, 50001, '8000']) fails({ action: 'before', max_chars }, /`max_chars` must be an integer from 100 to 50000/);
    fails({ action: 'before', limit: 5 }, /unknown field `limit`; the fields are action, event_id, count, types, text, offset, max_chars/);
    assert.match(fails({ action: 'nope' }, /read_session_log/), /^read_session_log: /);
  });

  it('shows only public events, numbered by their public position', () => {
    const all = ok({ action: 'before', count: 50, max_chars: 50000 });
    const listed = headers(all);
    assert.deepEqual(listed.map((h) => h.id), PUBLIC.map((event) => event.id));
    assert.deepEqual(listed.map((h) => h.position), PUBLIC.map((_event, index) => index + 1));
    assert.deepEqual(listed.map((h) => h.time), PUBLIC.map((event) => event.createdAt.toISOString()));
    assert.match(all, /#4 sevt_005 agent\.thinking .*\n\(thinking, not shown\)/);
    // Every way of reading, every event: nothing internal or private (checked by ok()).
    for (const event of PUBLIC) {
      ok({ action: 'get', event_id: event.id, max_chars: 50000 });
      ok({ action: 'around', event_id: event.id, count: 50, max_chars: 50000 });
      ok({ action: 'search', types: [event.type], max_chars: 50000 });
    }
    ok({ action: 'search', text: 'e', count: 50, max_chars: 50000 });
  });

  it('stays under max_chars even when every event is huge', () => {
    const big = logOf(Array.from({ length: 60 }, (_, i) => ['agent.tool_result', { tool_use_id: `sevt_x${i}`, content: text(`${i} `.repeat(20_000)) }] as [string, Record<string, unknown>]));
    for (const max_chars of [100, 500, 2000, 8000, 50000]) {
      for (const input of [
        { action: 'before', count: 50 },
        { action: 'around', event_id: 'sevt_030', count: 50 },
        { action: 'search', text: '1', count: 50 },
        { action: 'search', types: ['agent.tool_result'], count: 50 },
      ]) {
        const answer = ok({ ...input, max_chars }, big);
        assert.ok(answer.length <= max_chars, `${JSON.stringify(input)} at ${max_chars}: ${answer.length} characters`);
        assert.ok(headers(answer).length >= 1 || max_chars < 200, 'at least one event is shown');
      }
    }
    // The default budget: the newest events that fit, saying how many were left out and how to page.
    const answer = ok({ action: 'before', count: 50 }, big);
    const shown = headers(answer);
    assert.ok(answer.length <= 8000 && shown.length >= 3 && shown.length < 50);
    assert.equal(shown.at(-1)!.id, 'sevt_060');
    assert.match(answer, new RegExp(`${50 - shown.length} of these 50 events left out to keep the answer under max_chars=8000`));
    assert.match(answer, new RegExp(`${60 - shown.length} earlier events: use action "before" with event_id ${shown[0]!.id}`));
    const search = ok({ action: 'search', types: ['agent.tool_result'], count: 50 }, big);
    const found = headers(search);
    assert.equal(found[0]!.id, 'sevt_060');
    assert.match(search, new RegExp(`${60 - found.length} older matches: search again with event_id ${found.at(-1)!.id}`));
    const around = headers(ok({ action: 'around', event_id: 'sevt_030', count: 50 }, big)).map((h) => h.id);
    assert.ok(around.includes('sevt_030') && around.length < 50);
  });
});
