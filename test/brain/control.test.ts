import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, waitFor, lastIdle, listAll, newSession, types, userText, waitForIdle } from './support.ts';

describeBrain('steering and interrupts', (harness) => {
  it('[BRAIN-10] a message sent while running is picked up at the next model call', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('steer', [
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'build', sleep_ms: 400 } }] },
      { content: [{ type: 'text', text: 'Built, and noted your request.' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[steer] build it')] });
    await waitFor(client, session.id, (events) => events.some((event) => event.type === 'agent.tool_use'));
    const steer = await client.beta.sessions.events.send(session.id, { events: [userText('also run the tests')] });
    const events = await waitForIdle(client, session.id);
    assert.equal(requests.length, 2);
    // The second request: tool result first, then the steering message, in one user turn.
    assert.deepEqual(requests[1]!.messages.at(-1)!.content, [
      (requests[1]!.messages.at(-1)!.content as object[])[0],
      { type: 'text', text: 'also run the tests' },
    ]);
    const echo = events.find((event) => event.id === steer.data![0]!.id)!;
    assert.ok(typeof echo.processed_at === 'string');
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal(events.filter((event) => event.type === 'session.status_idle').length, 1, 'one turn, never idle in between');
  });

  it('[BRAIN-11] an interrupt aborts a streaming model call within a second and leaves the session idle end_turn', async () => {
    const { client, scripts } = harness();
    scripts.add('interrupt-stream', [
      { content: [{ type: 'text', text: 'a very long answer '.repeat(50) }], chunk_delay_ms: 100 },
      { content: [{ type: 'text', text: 'Fresh start.' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[interrupt-stream] talk')] });
    await waitFor(client, session.id, (events) => events.some((event) => event.type === 'span.model_request_start'));
    const sentAt = Date.now();
    const interrupt = await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    let events = await waitForIdle(client, session.id);
    assert.ok(Date.now() - sentAt < 1_000, `idle ${Date.now() - sentAt} ms after the interrupt`);
    assert.deepEqual(types(events), [
      'user.message',
      'session.status_running',
      'span.model_request_start',
      'user.interrupt',
      'span.model_request_end',
      'session.usage',
      'session.status_idle',
    ]);
    const end = events.find((event) => event.type === 'span.model_request_end') as any;
    assert.equal(end.is_error, true);
    assert.equal(events.filter((event) => event.type === 'agent.message').length, 0, 'the cut-off answer is not recorded as a message');
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.ok(typeof events.find((event) => event.id === interrupt.data![0]!.id)!.processed_at === 'string');
    // The session takes the next message normally; the cut-off answer is not in the request.
    await client.beta.sessions.events.send(session.id, { events: [userText('again')] });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[BRAIN-12] an interrupt aborts a running tool call and records it as interrupted', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('interrupt-tool', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'sleep 60', sleep_ms: 60_000 } }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[interrupt-tool] wait')] });
    await waitFor(client, session.id, (events) => events.some((event) => event.type === 'agent.tool_use'));
    const sentAt = Date.now();
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    const events = await waitForIdle(client, session.id);
    assert.ok(Date.now() - sentAt < 1_000, `idle ${Date.now() - sentAt} ms after the interrupt`);
    const result = events.find((event) => event.type === 'agent.tool_result') as any;
    assert.equal(result.is_error, true);
    assert.match(result.content[0].text, /interrupted/);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal(requests.length, 1, 'the model is not called after an interrupt');
  });

  it('[BRAIN-13] an interrupt while waiting on the client closes the pending calls and re-emits idle end_turn', async () => {
    const { client, scripts } = harness();
    scripts.add('interrupt-pending', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'ls' } }] }]);
    const session = await newSession(client, { tools: [{ type: 'agent_toolset_20260401', default_config: { permission_policy: { type: 'always_ask' } } }] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[interrupt-pending] go')] });
    await waitForIdle(client, session.id);
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    const events = await waitForIdle(client, session.id, { count: 2 });
    const use = events.find((event) => event.type === 'agent.tool_use')!;
    const result = events.find((event) => event.type === 'agent.tool_result') as any;
    assert.equal(result.tool_use_id, use.id);
    assert.equal(result.is_error, true);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    // The closed call takes no confirmation any more.
    await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }] }), { status: 400 });
  });

  it('[BRAIN-14] an interrupt on an idle session is a no-op, still shown as processed', async () => {
    const { client } = harness();
    const session = await newSession(client);
    const sent = await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    const events = await waitFor(client, session.id, (list) => typeof list[0]?.processed_at === 'string');
    assert.deepEqual(types(events), ['user.interrupt']);
    assert.equal(events[0]!.id, sent.data![0]!.id);
  });

  it('[BRAIN-10] a system.message reaches the model as a system turn right after the message it follows', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('system-turn', [{ content: [{ type: 'text', text: 'Noted.' }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, {
      events: [userText('[system-turn] hello'), { type: 'system.message', content: [{ type: 'text', text: 'Answer in French.' }] }],
    });
    await waitForIdle(client, session.id);
    assert.deepEqual(requests[0]!.messages, [
      { role: 'user', content: [{ type: 'text', text: '[system-turn] hello' }] },
      { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
    ]);
  });
});
