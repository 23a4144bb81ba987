import assert from 'node:assert/strict';
import { it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { createAgent } from '../../src/testing/fixtures.ts';
import { describeBrain, lastIdle, newSession, TOOLSET, userText, waitForIdle } from '../brain/support.ts';

/** read_session_log through a session: off by default, enabled by the agent's metadata. */

type Block = { type: string; name?: string; content?: { text: string }[] };
const toolNames = (request: { tools?: unknown[] }) => ((request.tools ?? []) as { name: string }[]).map((tool) => tool.name);

describeBrain('context: read_session_log', (harness) => {
  it('[CTX-9] enabled per agent: the model reads its own log — a slice by type, and one event whole — and events.list is unchanged by it', async () => {
    const { client, scripts } = harness();
    const secretInThinking = 'canary-private-thinking-7431';
    const { requests } = scripts.add('log-tool', [
      { content: [{ type: 'thinking', thinking: secretInThinking, signature: 'sig' }, { type: 'tool_use', name: 'bash', input: { command: 'make', output_bytes: 3_000 } }] },
      { content: [{ type: 'tool_use', name: 'read_session_log', input: { action: 'search', types: ['agent.tool_result'] } }] },
      (request) => {
        // The model takes the result's id from the slice it got, and asks for that event whole.
        const slice = lastResult(request);
        const id = slice.match(/(sevt_\w+) agent\.tool_result/)![1]!;
        return { content: [{ type: 'tool_use', name: 'read_session_log', input: { action: 'get', event_id: id } }] };
      },
      { content: [{ type: 'text', text: 'I re-read the build output.' }] },
    ]);
    const session = await newSession(client, { system: '[log-tool] You are careful.', metadata: { 'oma.session_log_tool': 'enabled' } });
    await client.beta.sessions.events.send(session.id, { events: [userText('Build, then check the output again.')] });
    const events = await waitForIdle(client, session.id, { timeoutMs: 20_000 });
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
    assert.ok(toolNames(requests[0]!).includes('read_session_log'), 'offered');
    const uses = events.filter((event) => event.type === 'agent.tool_use');
    assert.deepEqual(uses.map((use) => [use.name, use.evaluated_permission]), [['bash', 'allow'], ['read_session_log', 'allow'], ['read_session_log', 'allow']]);
    const search = lastResult(requests[2]!);
    assert.match(search, /#\d+ sevt_\w+ agent\.tool_result /);
    const whole = lastResult(requests[3]!);
    assert.match(whole, /characters 0–(\d+) of \1 \(whole\)/);
    assert.ok(whole.includes('x'.repeat(3_000)), 'the whole output, read back');
    for (const text of [search, whole]) assert.ok(!text.includes(secretInThinking) && !text.includes('oma.processed'), 'no private data, no internal events');
    const results = events.filter((event) => event.type === 'agent.tool_result');
    assert.equal(results.length, 3);
    assert.equal(results.every((result) => result.is_error === false), true);
  });

  it('[CTX-9] off by default: not offered, and a call to it is denied like any unknown tool', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('no-log-tool', [
      { content: [{ type: 'tool_use', name: 'read_session_log', input: { action: 'before' } }] },
      { content: [{ type: 'text', text: 'No such tool.' }] },
    ]);
    const session = await newSession(client, { system: '[no-log-tool] You are careful.' });
    await client.beta.sessions.events.send(session.id, { events: [userText('Look back.')] });
    const events = await waitForIdle(client, session.id, { timeoutMs: 20_000 });
    assert.ok(!toolNames(requests[0]!).includes('read_session_log'));
    const use = events.find((event) => event.type === 'agent.tool_use')!;
    assert.equal(use.evaluated_permission, 'deny');
    assert.match(lastResult(requests[1]!), /There is no tool named read_session_log/);
  });

  it('[CTX-1] an agent\'s context metadata is checked when it is written: a clear 400, nothing created or changed', async () => {
    const { client } = harness();
    const rejected = (promise: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(promise, (error: InstanceType<typeof Anthropic.APIError>) => error.status === 400 && (error.error as { error: { type: string } }).error.type === 'invalid_request_error' && pattern.test(error.message));
    const before = (await client.beta.agents.list({ limit: 100 })).data.length;
    await rejected(createAgent(client, { tools: [TOOLSET], metadata: { 'oma.context': 'magic' } }), /oma\.context must be one of none, cache, trim, compact, not \\"magic\\"/);
    assert.equal((await client.beta.agents.list({ limit: 100 })).data.length, before, 'nothing created');
    const agent = await createAgent(client, { tools: [TOOLSET], metadata: { 'oma.context': 'trim' } });
    await rejected(client.beta.agents.update(agent.id, { version: agent.version, metadata: { 'oma.compact_at': '2' } }), /oma\.compact_at must be a fraction/);
    const after = await client.beta.agents.retrieve(agent.id);
    assert.equal(after.version, agent.version);
    assert.deepEqual(after.metadata, { 'oma.context': 'trim' });
  });
});

/** The text of the last tool result in a request. */
function lastResult(request: { messages: { content: unknown }[] }): string {
  const blocks = request.messages.at(-1)!.content as Block[];
  const result = blocks.filter((block) => block.type === 'tool_result').at(-1)!;
  return (result.content ?? []).map((part) => part.text).join('');
}
