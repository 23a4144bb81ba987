import assert from 'node:assert/strict';
import { it } from 'node:test';
import { toFile } from '@anthropic-ai/sdk';
import { describeBrain, lastIdle, newSession, types, userText, waitForIdle } from './support.ts';

describeBrain('model failures', (harness) => {
  it('[BRAIN-15] 529 overloaded is retried: error retrying → rescheduled → running → success', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('retry', [
      { error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } },
      { content: [{ type: 'text', text: 'hello' }], drop_after: 3 },
      { content: [{ type: 'text', text: 'hello' }], error_after: { events: 3, type: 'overloaded_error' } },
      { content: [{ type: 'text', text: 'Made it.' }] },
    ]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[retry] hi')] });
    const events = await waitForIdle(client, session.id);
    assert.equal(requests.length, 4);
    const errors = events.filter((event) => event.type === 'session.error') as any[];
    assert.deepEqual(
      errors.map((error) => [error.error.type, error.error.retry_status.type]),
      [
        ['model_overloaded_error', 'retrying'],
        ['model_request_failed_error', 'retrying'],
        ['model_overloaded_error', 'retrying'],
      ],
    );
    assert.deepEqual(types(events).slice(1, 8), [
      'session.status_running',
      'span.model_request_start',
      'span.model_request_end',
      'session.error',
      'session.status_rescheduled',
      'session.status_running',
      'span.model_request_start',
    ]);
    assert.deepEqual(
      events.filter((event) => event.type === 'agent.message').map((event: any) => event.content[0].text),
      ['Made it.'],
      'cut-off responses leave no message behind',
    );
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    // Every attempt asked the same thing.
    assert.ok(requests.every((request) => JSON.stringify(request) === JSON.stringify(requests[0])));
  });

  it('[BRAIN-16] a failure that persists ends the turn: error exhausted, idle retries_exhausted, session usable', async () => {
    const { client, scripts } = harness();
    const overloaded = { error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } };
    const { requests } = scripts.add('persistent', [overloaded, overloaded, overloaded, overloaded, overloaded, { content: [{ type: 'text', text: 'Back.' }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[persistent] hi')] });
    let events = await waitForIdle(client, session.id);
    assert.equal(requests.length, 5, 'five attempts by default');
    const errors = events.filter((event) => event.type === 'session.error') as any[];
    assert.deepEqual(errors.map((error) => error.error.retry_status.type), ['retrying', 'retrying', 'retrying', 'retrying', 'exhausted']);
    assert.equal(lastIdle(events).stop_reason.type, 'retries_exhausted');
    assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
    await client.beta.sessions.events.send(session.id, { events: [userText('try again')] });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[BRAIN-17] a request the model rejects (400, 401) is not retried', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('rejected', [{ error: { status: 401, type: 'authentication_error', message: 'invalid x-api-key' } }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[rejected] hi')] });
    const events = await waitForIdle(client, session.id);
    assert.equal(requests.length, 1);
    const error = events.find((event) => event.type === 'session.error') as any;
    assert.equal(error.error.retry_status.type, 'exhausted');
    assert.match(error.error.message, /invalid x-api-key/);
    assert.equal(lastIdle(events).stop_reason.type, 'retries_exhausted');
  });

  it('[BRAIN-18] two sessions run concurrently without seeing each other', async () => {
    const { client, scripts, sandbox } = harness();
    const a = scripts.add('iso-a', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'a', sleep_ms: 200 } }] }, { content: [{ type: 'text', text: 'A done' }] }]);
    const b = scripts.add('iso-b', [{ content: [{ type: 'tool_use', name: 'bash', input: { command: 'b', sleep_ms: 200 } }] }, { content: [{ type: 'text', text: 'B done' }] }]);
    const [sessionA, sessionB] = await Promise.all([newSession(client), newSession(client)]);
    const started = Date.now();
    await Promise.all([
      client.beta.sessions.events.send(sessionA.id, { events: [userText('[iso-a] go')] }),
      client.beta.sessions.events.send(sessionB.id, { events: [userText('[iso-b] go')] }),
    ]);
    const [eventsA, eventsB] = await Promise.all([waitForIdle(client, sessionA.id), waitForIdle(client, sessionB.id)]);
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(sandbox.callsOf(sessionA.id).map((call) => call.input.command), ['a']);
    assert.deepEqual(sandbox.callsOf(sessionB.id).map((call) => call.input.command), ['b']);
    assert.equal((eventsA.filter((event) => event.type === 'agent.message').at(-1) as any).content[0].text, 'A done');
    assert.equal((eventsB.filter((event) => event.type === 'agent.message').at(-1) as any).content[0].text, 'B done');
    assert.ok(JSON.stringify(a.requests).includes('"a"') && !JSON.stringify(a.requests).includes('iso-b'));
    assert.ok(!JSON.stringify(b.requests).includes('iso-a'));
  });

  it('[BRAIN-19] the model string, user text and thinking reach the model unchanged', async () => {
    const { client, scripts } = harness();
    const text = '[fidelity]  spaces  kept,\ttabs, ünïcödé 🚀, <tags> & "quotes"\n\nand blank lines ';
    const { requests } = scripts.add('fidelity', [
      { content: [{ type: 'thinking', thinking: 'Let me think.', signature: 'sig-1' }, { type: 'tool_use', name: 'read', input: { file_path: 'x' } }] },
      { content: [{ type: 'text', text: 'ok' }] },
    ]);
    const session = await newSession(client, { model: 'claude-3-opus-20240229-some-future-or-retired-name' });
    await client.beta.sessions.events.send(session.id, { events: [userText(text)] });
    const events = await waitForIdle(client, session.id);
    assert.equal(requests[0]!.model, 'claude-3-opus-20240229-some-future-or-retired-name');
    assert.deepEqual(requests[0]!.messages[0], { role: 'user', content: [{ type: 'text', text }] });
    // Thinking is sent back with its signature, though clients never see its text.
    assert.deepEqual((requests[1]!.messages[1]!.content as object[])[0], { type: 'thinking', thinking: 'Let me think.', signature: 'sig-1' });
    const thinking = events.find((event) => event.type === 'agent.thinking')!;
    assert.deepEqual(Object.keys(thinking).sort(), ['id', 'processed_at', 'type']);
  });

  it('[BRAIN-19] images and documents named by file id reach the model inline, as the uploaded bytes', async () => {
    const { client, scripts } = harness();
    const { requests } = scripts.add('files', [{ content: [{ type: 'text', text: 'A red pixel and a note.' }] }]);
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex');
    const image = await client.beta.files.upload({ file: await toFile(png, 'pixel.png', { type: 'image/png' }) });
    const note = await client.beta.files.upload({ file: await toFile(Buffer.from('%PDF-1.4 tiny'), 'note.pdf', { type: 'application/pdf' }) });
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, {
      events: [
        {
          type: 'user.message',
          content: [
            { type: 'text', text: '[files] what are these?' },
            { type: 'image', source: { type: 'file', file_id: image.id } },
            { type: 'document', source: { type: 'file', file_id: note.id }, title: 'Note' },
          ],
        },
      ],
    });
    await waitForIdle(client, session.id);
    assert.deepEqual((requests[0]!.messages[0]!.content as object[]).slice(1), [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: Buffer.from('%PDF-1.4 tiny').toString('base64') }, title: 'Note' },
    ]);
  });
});
