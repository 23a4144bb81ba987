import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeBrain, lastIdle, listAll, newSession, types, userText, waitForIdle } from './support.ts';

/** Found in review: statuses the client can observe. */

const WEATHER = {
  type: 'custom',
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describeBrain('statuses', (harness) => {
  it('[BRAIN-29] right after session.status_idle arrives on the stream, retrieve says idle', async () => {
    const { client, scripts } = harness();
    const turns = 40;
    scripts.add('status-race', Array.from({ length: turns }, () => ({ content: [{ type: 'text' as const, text: 'ok' }] })));
    const session = await newSession(client);
    const stream = await client.beta.sessions.events.stream(session.id);
    const mismatches: string[] = [];
    let idles = 0;
    await client.beta.sessions.events.send(session.id, { events: [userText('[status-race] 0')] });
    for await (const event of stream) {
      if (event.type !== 'session.status_idle') continue;
      const { status } = await client.beta.sessions.retrieve(session.id);
      if (status !== 'idle') mismatches.push(`turn ${idles}: retrieve said ${status} after the idle event`);
      if (++idles === turns) break;
      await client.beta.sessions.events.send(session.id, { events: [userText(`turn ${idles}`)] });
    }
    assert.deepEqual(mismatches, []);
  });

  it('[BRAIN-30] define_outcome on an idle session starts work like a message (spec §5.5)', async () => {
    const { client, scripts } = harness();
    scripts.add('outcome', [{ content: [{ type: 'text', text: 'working on it' }] }, { content: [{ type: 'text', text: 'more' }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.define_outcome', description: '[outcome] write a haiku', rubric: { type: 'text', content: 'Is a haiku' } } as any],
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const events = await listAll(client, session.id);
    assert.ok(events.some((event) => event.type === 'session.status_running'), `nothing ran: ${types(events).join(', ')}`);
  });

  it('[BRAIN-2] partial resolution: two pending custom calls, resolve one → idle requires_action with the other', async () => {
    const { client, scripts } = harness();
    scripts.add('partial', [
      { content: [{ type: 'tool_use', name: 'get_weather', input: { city: 'Paris' } }, { type: 'tool_use', name: 'get_weather', input: { city: 'Rome' } }] },
      { content: [{ type: 'text', text: 'done' }] },
    ]);
    const session = await newSession(client, { tools: [WEATHER] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[partial] two cities')] });
    let events = await waitForIdle(client, session.id);
    const uses = events.filter((event) => event.type === 'agent.custom_tool_use');
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: uses.map((use) => use.id) });
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.custom_tool_result', custom_tool_use_id: uses[0]!.id, content: [{ type: 'text', text: 'sun' }] }] });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [uses[1]!.id] });
    assert.deepEqual(types(events).slice(-2), ['session.usage', 'session.status_idle']);
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.custom_tool_result', custom_tool_use_id: uses[1]!.id, content: [{ type: 'text', text: 'rain' }] }] });
    events = await waitForIdle(client, session.id, { count: 3 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
  });
});
