import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, lastIdle, newSession, types, userText, waitForIdle } from './support.ts';

describeBrain('a turn', (harness) => {
  it('[BRAIN-1] message → tool use → tool result → final message → idle end_turn', async () => {
    const { client, scripts, sandbox } = harness();
    const { requests } = scripts.add('full-turn', [
      { content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', name: 'bash', input: { command: 'ls /' } }] },
      { content: [{ type: 'text', text: 'Done: the root holds bin and etc.' }], usage: { input_tokens: 100, output_tokens: 20 } },
    ]);
    const session = await newSession(client, { system: 'You are terse.' });
    const sent = await client.beta.sessions.events.send(session.id, { events: [userText('[full-turn] list the root')] });
    assert.equal(sent.data![0]!.processed_at, null);
    const events = await waitForIdle(client, session.id);
    assert.deepEqual(types(events), [
      'user.message',
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'agent.tool_use',
      'span.model_request_end',
      'agent.tool_result',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.usage',
      'session.status_idle',
    ]);
    const byType = (type: string) => events.filter((event) => event.type === type) as Record<string, any>[];
    // The queued message is now shown as processed, under its own id.
    assert.equal(events[0]!.id, sent.data![0]!.id);
    assert.ok(typeof events[0]!.processed_at === 'string');
    const use = byType('agent.tool_use')[0]!;
    assert.equal(use.name, 'bash');
    assert.deepEqual(use.input, { command: 'ls /' });
    assert.equal(use.evaluated_permission, 'allow');
    assert.deepEqual(use.evaluation, { type: 'always_allow' });
    const result = byType('agent.tool_result')[0]!;
    assert.equal(result.tool_use_id, use.id);
    assert.equal(result.is_error, false);
    assert.deepEqual(result.content, [{ type: 'text', text: 'bash: {"command":"ls /"}' }]);
    assert.deepEqual(sandbox.callsOf(session.id), [{ sessionId: session.id, name: 'bash', input: { command: 'ls /' } }]);
    assert.deepEqual(byType('agent.message').map((event) => event.content), [
      [{ type: 'text', text: 'Let me look.' }],
      [{ type: 'text', text: 'Done: the root holds bin and etc.' }],
    ]);
    const ends = byType('span.model_request_end');
    const starts = byType('span.model_request_start');
    assert.deepEqual(ends.map((end) => end.model_request_start_id), starts.map((start) => start.id));
    assert.equal(ends[1]!.model_usage.input_tokens, 100);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal((events.at(-1) as any).stop_details, null);
    // No brain bookkeeping leaks to clients.
    assert.ok(events.every((event) => !event.type.startsWith('oma.') && !('_oma' in event)));

    // What the model was sent: the system prompt, the toolset under its own names, the user's text
    // unchanged, then the tool use and its result.
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.model, 'claude-sonnet-4-6');
    assert.equal(requests[0]!.system, 'You are terse.');
    assert.deepEqual(requests[0]!.tools!.map((tool) => (tool as { name: string }).name), ['bash', 'read', 'write', 'edit', 'glob', 'grep', 'web_fetch', 'web_search']);
    assert.deepEqual(requests[0]!.messages, [{ role: 'user', content: [{ type: 'text', text: '[full-turn] list the root' }] }]);
    assert.deepEqual(requests[1]!.messages.slice(1), [
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: use.id, name: 'bash', input: { command: 'ls /' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'bash: {"command":"ls /"}' }] }] },
    ]);

    const retrieved = await client.beta.sessions.retrieve(session.id);
    assert.equal(retrieved.status, 'idle');
    assert.equal(retrieved.usage.output_tokens, ends.reduce((sum, end) => sum + end.model_usage.output_tokens, 0));
    assert.ok(retrieved.usage.input_tokens! >= 100);
  });
});
