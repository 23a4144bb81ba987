import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, waitFor, lastIdle, listAll, newSession, types, userText, waitForIdle } from './support.ts';

/** Found in review: races between client input and the brain. */

const WEATHER = {
  type: 'custom',
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describeBrain('races', (harness) => {
  it('[BRAIN-2] a custom tool result sent before the response ends (before the idle) is answered by the model', async () => {
    const { client, scripts } = harness();
    // The tool_use block completes early; a text block then streams slowly (events 100 ms apart).
    const { requests } = scripts.add('early-custom', [
      { content: [{ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } }, { type: 'text', text: 'Meanwhile, some thoughts on Paris.' }], chunk_delay_ms: 100 },
      { content: [{ type: 'text', text: 'Sunny in Paris.' }] },
    ]);
    const session = await newSession(client, { tools: [WEATHER] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[early-custom] weather?')] });
    const seen = await waitFor(client, session.id, (events) => events.some((event) => event.type === 'agent.custom_tool_use'));
    assert.ok(!seen.some((event) => event.type === 'span.model_request_end'), 'precondition: the response is still streaming');
    const use = seen.find((event) => event.type === 'agent.custom_tool_use')!;
    // Spec §5.2: user.custom_tool_result "may be sent before the idle event arrives".
    await client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.custom_tool_result', custom_tool_use_id: use.id, content: [{ type: 'text', text: '21°C' }] }],
    });
    const events = await waitForIdle(client, session.id, { timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(requests.length, 2, `the model must be called again with the tool result; events: ${types(await listAll(client, session.id)).join(', ')}`);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[BRAIN-11] a tool use from a response cut off by user.interrupt is never executed', async () => {
    const { client, scripts, sandbox } = harness();
    scripts.add('interrupt-cut-tool', [
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'rm -rf /workspace/*' } }, { type: 'text', text: 'Cleaning up the workspace now.' }], chunk_delay_ms: 100 },
      { content: [{ type: 'text', text: 'ok' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[interrupt-cut-tool] clean')] });
    await waitFor(client, session.id, (events) => events.some((event) => event.type === 'agent.tool_use'));
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    const events = await waitForIdle(client, session.id);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.deepEqual(sandbox.callsOf(session.id), [], 'the sandbox was asked to run a command after the user interrupted');
  });

  it('[BRAIN-10] many rapid concurrent sends: every message is processed and the session ends idle', async () => {
    const { client, scripts } = harness();
    const steps = Array.from({ length: 40 }, () => ({ content: [{ type: 'text' as const, text: 'ok' }], delay_ms: 5 }));
    scripts.add('rapid', steps);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[rapid] 0')] });
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => client.beta.sessions.events.send(session.id, { events: [userText(`m${i + 1}`)] })));
    const ids = sent.map((response) => response.data![0]!.id);
    const events = await waitFor(client, session.id, (list) => {
      const idle = list.at(-1)?.type === 'session.status_idle';
      return idle && ids.every((id) => typeof list.find((event) => event.id === id)?.processed_at === 'string');
    });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
  });
});
