import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, lastIdle, listAll, newSession, TOOLSET, types, userText, waitForIdle } from './support.ts';

const WEATHER = {
  type: 'custom',
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'], additionalProperties: false },
};
const ASK = { type: 'agent_toolset_20260401', default_config: { permission_policy: { type: 'always_ask' } } };

describeBrain('tools', (harness) => {
  it('[BRAIN-2] a custom tool ends the turn with requires_action and resumes on the client result', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('custom', [
      { content: [{ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } }] },
      { content: [{ type: 'text', text: 'Sunny in Paris.' }] },
    ]);
    const session = await newSession(client, { tools: [WEATHER] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[custom] weather?')] });
    let events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.custom_tool_use') as any;
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { city: 'Paris' });
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [use.id] });
    assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
    // The custom tool reached the model exactly as the agent defines it.
    assert.deepEqual(requests[0]!.tools, [{ name: WEATHER.name, description: WEATHER.description, input_schema: WEATHER.input_schema }]);

    await client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.custom_tool_result', custom_tool_use_id: use.id, content: [{ type: 'text', text: '21°C, sunny' }] }],
    });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.deepEqual(types(events).slice(-7), [
      'user.custom_tool_result',
      'session.status_running',
      'span.model_request_start',
      'agent.message',
      'span.model_request_end',
      'session.usage',
      'session.status_idle',
    ]);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.deepEqual(requests[1]!.messages.at(-1), { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: '21°C, sunny' }] }] });
  });

  it('[BRAIN-3] always_ask: the call waits for the confirmation, then runs on allow', async () => {
    const { client, scripts, sandbox } = harness();
    scripts.add('allow', [{ content: [{ type: 'tool_use', name: 'write', input: { file_path: 'a.txt', content: 'hi' } }] }, { content: [{ type: 'text', text: 'Written.' }] }]);
    const session = await newSession(client, { tools: [ASK] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[allow] write it')] });
    let events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.tool_use') as any;
    assert.equal(use.evaluated_permission, 'ask');
    assert.deepEqual(use.evaluation, { type: 'always_ask' });
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [use.id] });
    assert.equal(sandbox.callsOf(session.id).length, 0, 'nothing runs before the confirmation');

    const sent = await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }] });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.equal(sandbox.callsOf(session.id).length, 1);
    const result = events.find((event) => event.type === 'agent.tool_result') as any;
    assert.equal(result.tool_use_id, use.id);
    assert.equal(result.is_error, false);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    const confirmation = events.find((event) => event.id === sent.data![0]!.id)!;
    assert.ok(typeof confirmation.processed_at === 'string', 'the confirmation is shown as processed');
  });

  it('[BRAIN-4] always_ask: a deny is not run and is reported to the model with the deny message', async () => {
    const { client, scripts, sandbox } = harness();
    const { requests } = scripts.add('deny', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'rm -rf /' } }] }, { content: [{ type: 'text', text: 'Understood.' }] }]);
    const session = await newSession(client, { tools: [ASK] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[deny] clean up')] });
    let events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.tool_use') as any;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'deny', deny_message: 'Never delete the root.' }] });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.equal(sandbox.callsOf(session.id).length, 0);
    const result = events.find((event) => event.type === 'agent.tool_result') as any;
    assert.deepEqual({ id: result.tool_use_id, error: result.is_error, content: result.content }, { id: use.id, error: true, content: [{ type: 'text', text: 'Never delete the root.' }] });
    assert.deepEqual(requests[1]!.messages.at(-1), {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: use.id, is_error: true, content: [{ type: 'text', text: 'Never delete the root.' }] }],
    });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[BRAIN-5] parallel tool uses in one response all run, and their results go back in tool-use order', async () => {
    const { client, scripts, sandbox } = harness();
    const { requests } = scripts.add('parallel', [
      {
        content: [
          { type: 'tool_use', name: 'bash', input: { command: 'slow', sleep_ms: 150 } },
          { type: 'tool_use', name: 'read', input: { file_path: 'fast' } },
          { type: 'tool_use', name: 'grep', input: { pattern: 'x', sleep_ms: 50 } },
        ],
      },
      { content: [{ type: 'text', text: 'All three done.' }] },
    ]);
    const session = await newSession(client);
    const started = Date.now();
    await client.beta.sessions.events.send(session.id, { events: [userText('[parallel] go')] });
    const events = await waitForIdle(client, session.id);
    assert.ok(Date.now() - started < 1_500, 'the calls ran concurrently');
    assert.equal(sandbox.callsOf(session.id).length, 3);
    const uses = events.filter((event) => event.type === 'agent.tool_use').map((event) => event.id);
    const resultOrder = (requests[1]!.messages.at(-1)!.content as { tool_use_id: string }[]).map((block) => block.tool_use_id);
    assert.deepEqual(resultOrder, uses);
  });

  it('[BRAIN-6] a tool that fails becomes an error result the model sees; the session goes on', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('tool-fails', [
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'x', fail: 'exit 3' } }, { type: 'tool_use', name: 'read', input: { file_path: 'y', crash: 'sandbox died' } }] },
      { content: [{ type: 'text', text: 'Both failed.' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[tool-fails] go')] });
    const events = await waitForIdle(client, session.id);
    const results = events.filter((event) => event.type === 'agent.tool_result') as any[];
    assert.deepEqual(results.map((result) => [result.is_error, result.content[0].text]).sort(), [
      [true, 'Error: sandbox died'],
      [true, 'exit 3'],
    ]);
    assert.equal(requests.length, 2);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[BRAIN-7] a tool the agent does not offer is denied and reported, never run', async () => {
    const { client, scripts, sandbox } = harness();
    scripts.add('unknown-tool', [{ content: [{ type: 'tool_use', name: 'launch_rockets', input: {} }] }, { content: [{ type: 'text', text: 'Sorry.' }] }]);
    const session = await newSession(client, { tools: [{ ...TOOLSET, configs: [{ name: 'bash', enabled: false }] }] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[unknown-tool] go')] });
    const events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.tool_use') as any;
    assert.equal(use.evaluated_permission, 'deny');
    const result = events.find((event) => event.type === 'agent.tool_result') as any;
    assert.equal(result.is_error, true);
    assert.match(result.content[0].text, /no tool named launch_rockets/);
    assert.equal(sandbox.callsOf(session.id).length, 0);
  });

  it('[BRAIN-8] a confirmation for a call that is not awaiting one is a 400 and changes nothing', async () => {
    const { client, scripts } = harness();
    scripts.add('bad-confirm', [{ content: [{ type: 'tool_use', name: 'read', input: { file_path: 'a' } }] }, { content: [{ type: 'text', text: 'ok' }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[bad-confirm] go')] });
    const events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.tool_use')!;
    await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }] }), { status: 400 });
    assert.deepEqual(await listAll(client, session.id), events);
  });
});

describeBrain(
  'the per-turn tool-call limit',
  (harness) => {
    it('[BRAIN-9] reaching it ends the turn with tool_use_limit_reached_error and idle retries_exhausted', async () => {
      const { client, scripts, sandbox } = harness();
      const call = { content: [{ type: 'tool_use' as const, name: 'bash', input: { command: 'again' } }] };
      scripts.add('limit', [call, call, call, call, { content: [{ type: 'text', text: 'next turn' }] }]);
      const session = await newSession(client);
      await client.beta.sessions.events.send(session.id, { events: [userText('[limit] loop')] });
      const events = await waitForIdle(client, session.id);
      assert.equal(sandbox.callsOf(session.id).length, 3);
      const error = events.find((event) => event.type === 'session.error') as any;
      assert.equal(error.error.type, 'tool_use_limit_reached_error');
      assert.equal(error.error.retry_status.type, 'exhausted');
      assert.equal(lastIdle(events).stop_reason.type, 'retries_exhausted');
      const uses = events.filter((event) => event.type === 'agent.tool_use');
      const results = events.filter((event) => event.type === 'agent.tool_result') as any[];
      assert.equal(uses.length, 4);
      assert.equal(results.length, 4, 'the call over the limit still gets a (refusing) result');
      assert.match(results[3].content[0].text, /limit of 3 tool calls/);
      // The limit is per turn: the next message starts afresh.
      await client.beta.sessions.events.send(session.id, { events: [userText('go on')] });
      const after = await waitForIdle(client, session.id, { count: 2 });
      assert.equal(lastIdle(after).stop_reason.type, 'end_turn');
    });
  },
  { config: { brain: { maxToolCallsPerTurn: 3 } } },
);
