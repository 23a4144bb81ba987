import assert from 'node:assert/strict';
import { it } from 'node:test';
import { accumulateManagedAgentsEvent } from '@anthropic-ai/sdk/lib/sessions/accumulate';
import { describeBrain, newSession, userText } from './support.ts';

describeBrain('the event stream of a running session', (harness) => {
  it('[BRAIN-25] shows the queued message again when taken, and previews the answer with event_deltas', async () => {
    const { client, scripts } = harness();
    const answer = 'Streaming, one chunk at a time, so the client sees it grow.';
    scripts.add('stream', [{ content: [{ type: 'text', text: answer }], chunk_delay_ms: 5 }]);
    const session = await newSession(client);
    const stream = await client.beta.sessions.events.stream(session.id, { event_deltas: ['agent.message'] });
    const sent = await client.beta.sessions.events.send(session.id, { events: [userText('[stream] talk to me')] });
    const seen: any[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (event.type === 'session.status_idle') break;
    }
    const kinds = seen.map((event) => event.type);
    assert.deepEqual(kinds.slice(0, 4), ['user.message', 'session.status_running', 'user.message', 'span.model_request_start']);
    assert.equal(seen[0].id, sent.data![0]!.id);
    assert.equal(seen[0].processed_at, null);
    assert.equal(seen[2].id, sent.data![0]!.id, 'the same event, now processed');
    assert.ok(typeof seen[2].processed_at === 'string');
    const start = seen.find((event) => event.type === 'event_start');
    const message = seen.find((event) => event.type === 'agent.message');
    assert.ok(start, `previews: ${kinds.join(', ')}`);
    assert.equal(start.event.id, message.id, 'the preview announces the id the message will carry');
    const deltas = seen.filter((event) => event.type === 'event_delta');
    assert.ok(deltas.length > 1);
    assert.equal(deltas.map((delta) => delta.delta.content.text).join(''), answer);
    assert.ok(kinds.indexOf('event_start') < kinds.indexOf('agent.message') && kinds.indexOf('agent.message') < kinds.indexOf('span.model_request_end'));
    // The SDK's own accumulator folds the previews into the final message without complaint.
    let snapshot: any = null;
    for (const event of seen) if (['event_start', 'event_delta', 'agent.message'].includes(event.type)) snapshot = accumulateManagedAgentsEvent(snapshot, event);
    assert.deepEqual(snapshot.content, [{ type: 'text', text: answer }]);
    assert.deepEqual(kinds.slice(-3), ['span.model_request_end', 'session.usage', 'session.status_idle']);
  });
});
