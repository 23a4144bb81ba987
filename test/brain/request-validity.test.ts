import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { buildMessages } from '../../src/brain/request.ts';
import type { StoredEvent } from '../../src/session/interface.ts';
import { checkMessages, describeBrain, lastIdle, newSession, userText, waitForIdle } from './support.ts';

/** Found in review: what the request builder sends to the Messages API. */

let seq = 0;
function ev(type: string, payload: Record<string, unknown> = {}, id = `sevt_${++seq}`): StoredEvent {
  return { sessionId: 'sesn_x', seq: ++seq, id, type, payload, createdAt: new Date() };
}
const processed = (event: StoredEvent) => ev('oma.processed', { event_id: event.id, processed_at: new Date().toISOString() });

describe('request builder (pure)', () => {
  it('[BRAIN-20] a message taken after a crash mid-response is sent after the recovered tool result, not before the tool use', () => {
    const first = ev('user.message', { content: [{ type: 'text', text: 'list files' }], processed_at: null });
    const steer = ev('user.message', { content: [{ type: 'text', text: 'actually, stop and say hi' }], processed_at: null });
    const start1 = ev('span.model_request_start');
    const use = ev('agent.tool_use', { name: 'bash', input: { command: 'ls' }, evaluated_permission: 'allow' });
    // The brain died here (no span.model_request_end); the next brain reports the call, then takes `steer`.
    const events = [
      first,
      ev('session.status_running'),
      processed(first),
      start1,
      use,
      ev('agent.tool_result', { tool_use_id: use.id, content: [{ type: 'text', text: 'cut off by a restart' }], is_error: true }),
      steer,
      processed(steer),
      ev('span.model_request_start'),
    ];
    const messages = buildMessages(events);
    checkMessages(messages);
    const last = messages.at(-1)!;
    const lastText = (last.content as { type: string; text?: string }[]).at(-1);
    assert.deepEqual(lastText, { type: 'text', text: 'actually, stop and say hi' }, `the steering message must come last, got ${JSON.stringify(messages)}`);
  });

  it('[BRAIN-20] a document from a text/plain file is sent with a source the Messages API accepts', () => {
    const message = ev('user.message', { content: [{ type: 'document', source: { type: 'file', file_id: 'file_txt' } }, { type: 'text', text: 'summarise' }], processed_at: null });
    const files = new Map([['file_txt', { mediaType: 'text/plain', data: Buffer.from('hello world').toString('base64') }]]);
    const messages = buildMessages([message, processed(message), ev('span.model_request_start')], { files });
    const source = (messages[0]!.content as { type: string; source?: { type: string; media_type?: string } }[])[0]!.source!;
    // Messages API: base64 documents are `application/pdf` only; plain text is `{type: "text", media_type: "text/plain", data}`.
    assert.ok(
      (source.type === 'base64' && source.media_type === 'application/pdf') || (source.type === 'text' && source.media_type === 'text/plain'),
      `invalid document source for the Messages API: ${JSON.stringify(source)}`,
    );
  });
});

describeBrain('request builder (server)', (harness) => {
  it('[BRAIN-20] an empty text block in a model response is not sent back (the API rejects empty text blocks)', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('empty-text', [
      { content: [{ type: 'text', text: '' }, { type: 'tool_use', name: 'bash', input: { command: 'ls' } }] },
      { content: [{ type: 'text', text: 'done' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[empty-text] go')] });
    const events = await waitForIdle(client, session.id);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.equal(requests.length, 2);
    checkMessages(requests[1]!.messages);
  });

  it('[BRAIN-20] a custom tool result with an empty text block is not sent as an empty text block', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('empty-result', [
      { content: [{ type: 'tool_use', name: 'noop', input: {} }] },
      { content: [{ type: 'text', text: 'done' }] },
    ]);
    const session = await newSession(client, { tools: [{ type: 'custom', name: 'noop', description: 'no-op', input_schema: { type: 'object', properties: {} } }] });
    await client.beta.sessions.events.send(session.id, { events: [userText('[empty-result] go')] });
    const events = await waitForIdle(client, session.id);
    const use = events.find((event) => event.type === 'agent.custom_tool_use')!;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.custom_tool_result', custom_tool_use_id: use.id, content: [{ type: 'text', text: '' }] }] });
    await waitForIdle(client, session.id, { count: 2 });
    assert.equal(requests.length, 2);
    const toolResult = (requests[1]!.messages.at(-1)!.content as { type: string; content?: { type: string; text?: string }[] }[])[0]!;
    for (const block of toolResult.content ?? []) if (block.type === 'text') assert.ok(block.text, `empty text block inside tool_result: ${JSON.stringify(toolResult)}`);
  });
});
