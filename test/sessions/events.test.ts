import Anthropic, { toFile } from '@anthropic-ai/sdk';
import { createKey } from '../../src/auth/keys.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PostgresSessionLog } from '../../src/session/postgres.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { createEnvironment, createSession } from '../../src/testing/fixtures.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

const message = (text: string) => ({ type: 'user.message' as const, content: [{ type: 'text' as const, text }] });
const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** Read an SSE response body into parsed messages until `stop` says so. */
async function readSse(response: Response, stop: (messages: { event?: string; id?: string; data: string }[]) => boolean) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const messages: { event?: string; id?: string; data: string }[] = [];
  while (!stop(messages)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
      }
      if (fields.data !== undefined) messages.push({ event: fields.event, id: fields.id, data: fields.data });
    }
  }
  await reader.cancel().catch(() => {});
  return messages;
}

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`session events on ${storage}`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    let client: Anthropic;
    before(async () => {
      process.env.OMA_SSE_KEEPALIVE_MS = '200';
      oma = await startTestOma({ storage });
      client = oma.client;
    });
    after(() => oma?.dispose());
    const headers = () => ({ authorization: `Bearer ${client.apiKey}`, 'anthropic-beta': 'managed-agents-2026-04-01' });

    it('[EVT-1] send echoes stored events, appends them and wakes the brain', async () => {
      const { session } = await createSession(client);
      const sent = await client.beta.sessions.events.send(session.id, { events: [message('one'), message('two')] });
      assert.equal(sent.data!.length, 2);
      for (const event of sent.data!) {
        assert.match(event.id, /^sevt_/);
        assert.equal(event.type, 'user.message');
        assert.equal(event.processed_at, null, 'queued until a brain takes it');
      }
      assert.deepEqual((sent.data![1] as Anthropic.Beta.Sessions.BetaManagedAgentsUserMessageEvent).content, [{ type: 'text', text: 'two' }]);
      const listed = (await client.beta.sessions.events.list(session.id)).data;
      assert.deepEqual(listed, sent.data);
      const { rows } = await oma.db.query('SELECT 1 FROM session_wakes WHERE session_id = $1', [session.id]);
      assert.equal(rows.length, 1);
    });

    it('[EVT-2] list pages by position, in either order, by type and time', async () => {
      const { session } = await createSession(client);
      for (let i = 0; i < 5; i++) await client.beta.sessions.events.send(session.id, { events: [message(`m${i}`)] });
      await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
      const all = (await client.beta.sessions.events.list(session.id)).data;
      assert.equal(all.length, 6);
      const paged = [];
      for await (const event of client.beta.sessions.events.list(session.id, { limit: 2 })) paged.push(event.id);
      assert.deepEqual(paged, all.map((event) => event.id));
      const descending = (await client.beta.sessions.events.list(session.id, { order: 'desc', limit: 1000 })).data.map((event) => event.id);
      assert.deepEqual(descending, all.map((event) => event.id).reverse());
      const pageOne = await client.beta.sessions.events.list(session.id, { order: 'desc', limit: 4 });
      const pageTwo = await client.beta.sessions.events.list(session.id, { order: 'desc', limit: 4, page: pageOne.next_page });
      assert.deepEqual([...pageOne.data, ...pageTwo.data].map((event) => event.id), descending);
      assert.equal(pageTwo.next_page, null);
      assert.deepEqual((await client.beta.sessions.events.list(session.id, { types: ['user.interrupt'] })).data.map((event) => event.type), ['user.interrupt']);
      const since = all[3]!.processed_at ?? undefined;
      assert.equal(since, undefined, 'client events are unprocessed here');
      const stored = await oma.sessionLog.read(session.id);
      const cut = stored[3]!.createdAt.toISOString();
      const after = (await client.beta.sessions.events.list(session.id, { 'created_at[gte]': cut })).data;
      assert.ok(after.length >= 3 && after.every((event) => stored.find((s) => s.id === event.id)!.createdAt.toISOString() >= cut));
      await assert.rejects(client.beta.sessions.events.list(session.id, { types: ['user.nonsense' as never] }), Anthropic.BadRequestError);
      await assert.rejects(client.beta.sessions.events.list(session.id, { limit: 1001 }), Anthropic.BadRequestError);
    });

    it('[EVT-3] every client event type a cloud session takes is accepted', async () => {
      const { session } = await createSession(client);
      const sent = await client.beta.sessions.events.send(session.id, {
        events: [
          message('please summarise'),
          { type: 'system.message', content: [{ type: 'text', text: 'be brief' }] },
        ],
      });
      assert.deepEqual(sent.data!.map((event) => event.type), ['user.message', 'system.message']);
      const outcome = await client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.define_outcome', description: 'a summary', rubric: { type: 'text', content: 'under 100 words' }, max_iterations: 2 }],
      });
      const defined = outcome.data![0] as Anthropic.Beta.Sessions.BetaManagedAgentsUserDefineOutcomeEvent;
      assert.match(defined.outcome_id, /^outc_/);
      assert.equal(defined.max_iterations, 2);
      assert.ok(defined.processed_at, 'outcomes are processed on receipt');
      const evaluations = (await client.beta.sessions.retrieve(session.id)).outcome_evaluations;
      assert.deepEqual(evaluations.map((evaluation) => [evaluation.outcome_id, evaluation.result]), [[defined.outcome_id, 'pending']]);
      const interrupt = await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
      assert.equal(interrupt.data![0]!.type, 'user.interrupt');
      const image = await client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.message', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'notes' }, title: 'n' }] }],
      });
      assert.equal(image.data!.length, 1);
    });

    it('[EVT-4] malformed events are 400s naming the problem, and the log is unchanged', async () => {
      const { session } = await createSession(client);
      await client.beta.sessions.events.send(session.id, { events: [message('kept')] });
      const before = (await client.beta.sessions.events.list(session.id)).data;
      const bad: [unknown[], RegExp][] = [
        [[{ type: 'agent.message', content: [] }], /events\.0\.type/],
        [[{ type: 'user.message', content: [{ type: 'redacted' }] }], /redacted/],
        [[{ type: 'user.message', content: [] }], /events\.0\.content/],
        [[message('fine'), { type: 'user.message', content: 'not a list' }], /events\.1\.content/],
        [[{ type: 'user.message', content: [{ type: 'text', text: 'x' }], extra: 1 }], /extra/],
        [[{ type: 'system.message', content: [{ type: 'text', text: 'alone' }] }], /system\.message/],
        [[{ type: 'system.message', content: [{ type: 'text', text: 'first' }] }, message('then')], /system\.message/],
        [[{ type: 'user.tool_confirmation', tool_use_id: 'x', result: 'allow', deny_message: 'no' }], /deny_message/],
        [[{ type: 'user.define_outcome', description: 'd', rubric: { type: 'text', content: 'r' }, max_iterations: 21 }], /max_iterations/],
        [[], /events/],
      ];
      for (const [events, pattern] of bad) {
        await assert.rejects(client.beta.sessions.events.send(session.id, { events: events as never }), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, `${JSON.stringify(events)}: ${String(error)}`);
          assert.match(error.message, pattern);
          return true;
        });
      }
      const response = await fetch(`${oma.url}/v1/sessions/${session.id}/events`, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: '{"events": [' });
      assert.equal(response.status, 400);
      assert.deepEqual((await client.beta.sessions.events.list(session.id)).data, before);
    });

    it('[EVT-5] answers must answer a pending call of this session', async () => {
      const { session } = await createSession(client);
      // A brain asked the client for a custom tool (appended through the log, as the brain does).
      const useId = 'sevt_' + 'C'.repeat(22);
      await oma.sessionLog.append(session.id, [{ id: useId, type: 'agent.custom_tool_use', payload: { name: 'lookup', input: { q: 1 } } }]);
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.custom_tool_result', custom_tool_use_id: 'sevt_unknown' }] }), Anthropic.BadRequestError);
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: useId, result: 'allow' }] }), Anthropic.BadRequestError, 'a custom tool use needs no confirmation');
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_result', tool_use_id: useId }] }), (error: unknown) => error instanceof Anthropic.BadRequestError && /self_hosted/.test(error.message));
      const answered = await client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.custom_tool_result', custom_tool_use_id: useId, content: [{ type: 'text', text: '42' }], is_error: false }],
      });
      assert.ok(answered.data![0]!.processed_at, 'results are processed on receipt');
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.custom_tool_result', custom_tool_use_id: useId }] }), (error: unknown) => error instanceof Anthropic.BadRequestError && /pending/.test(error.message), 'already answered');
      // A built-in tool call waiting for the user's confirmation.
      const askId = 'sevt_' + 'A'.repeat(22);
      await oma.sessionLog.append(session.id, [{ id: askId, type: 'agent.tool_use', payload: { name: 'bash', input: { command: 'rm -rf build' }, evaluated_permission: 'ask' } }]);
      const confirmed = await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: askId, result: 'deny', deny_message: 'not now' }] });
      assert.equal(confirmed.data![0]!.type, 'user.tool_confirmation');
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: askId, result: 'allow' }] }), Anthropic.BadRequestError, 'already confirmed');

      // Self-hosted sessions answer sandbox tool calls with user.tool_result.
      const selfHosted = await createEnvironment(client, { config: { type: 'self_hosted' } });
      const hosted = await client.beta.sessions.create({ agent: session.agent.id, environment_id: selfHosted.id });
      const sandboxUse = 'sevt_' + 'D'.repeat(22);
      await oma.sessionLog.append(hosted.id, [{ id: sandboxUse, type: 'agent.tool_use', payload: { name: 'bash', input: { command: 'ls' }, evaluated_permission: 'allow' } }]);
      const result = await client.beta.sessions.events.send(hosted.id, {
        events: [{ type: 'user.tool_result', tool_use_id: sandboxUse, content: [{ type: 'text', text: 'a b' }], is_error: false }],
      });
      assert.equal(result.data![0]!.type, 'user.tool_result');
    });

    it('[EVT-6] the stream delivers what is sent after it opened, framed for the SDK, and ends on termination', async () => {
      const { session } = await createSession(client);
      await client.beta.sessions.events.send(session.id, { events: [message('before the stream')] });
      const stream = await client.beta.sessions.events.stream(session.id);
      const received: Anthropic.Beta.Sessions.BetaManagedAgentsStreamSessionEvents[] = [];
      const done = (async () => {
        for await (const event of stream) received.push(event);
      })();
      const sent = await client.beta.sessions.events.send(session.id, { events: [message('after')] });
      await until(() => received.length >= 1, 'the live event');
      await client.beta.sessions.archive(session.id);
      await done; // the server closed the stream after session.status_terminated
      assert.deepEqual(received.map((event) => event.type), ['user.message', 'session.status_terminated']);
      assert.deepEqual(received[0], sent.data![0]);

      // On the wire: headers at once, event: equal to the payload type, one data line, id: = position.
      const { session: other } = await createSession(client);
      const started = Date.now();
      const response = await fetch(`${oma.url}/v1/sessions/${other.id}/events/stream`, { headers: { ...headers(), accept: 'application/json' } });
      assert.ok(Date.now() - started < 2_000, 'headers arrive before any event');
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reading = readSse(response, (messages) => messages.some((m) => m.event === 'user.message'));
      await client.beta.sessions.events.send(other.id, { events: [message('wire')] });
      const wire = (await reading).filter((m) => m.event !== 'ping');
      assert.equal(wire.length, 1);
      assert.equal(wire[0]!.event, JSON.parse(wire[0]!.data).type);
      assert.equal(wire[0]!.id, '1');
    });

    it('[EVT-7] Last-Event-ID resumes after that position with no gap and no duplicate', async () => {
      const { session } = await createSession(client);
      for (let i = 1; i <= 5; i++) await client.beta.sessions.events.send(session.id, { events: [message(`m${i}`)] });
      const response = await fetch(`${oma.url}/v1/sessions/${session.id}/events/stream`, { headers: { ...headers(), 'last-event-id': '2' } });
      const reading = readSse(response, (messages) => messages.filter((m) => m.event !== 'ping').length >= 4);
      await client.beta.sessions.events.send(session.id, { events: [message('m6')] });
      const got = (await reading).filter((m) => m.event !== 'ping');
      assert.deepEqual(got.map((m) => m.id), ['3', '4', '5', '6']);
      assert.deepEqual(got.map((m) => JSON.parse(m.data).content[0].text), ['m3', 'm4', 'm5', 'm6']);
      const bad = await fetch(`${oma.url}/v1/sessions/${session.id}/events/stream`, { headers: { ...headers(), 'last-event-id': 'abc' } });
      assert.equal(bad.status, 400);
    });

    it('[EVT-8] a client that goes away releases its subscription', async () => {
      const { session } = await createSession(client);
      const log = oma.sessionLog as PostgresSessionLog;
      const controllers = Array.from({ length: 20 }, () => new AbortController());
      const streams = await Promise.all(controllers.map((controller) => client.beta.sessions.events.stream(session.id, {}, { signal: controller.signal })));
      await until(() => log.subscribedSessions().includes(session.id), 'subscriptions');
      for (const controller of controllers) controller.abort();
      void streams;
      await until(() => !log.subscribedSessions().includes(session.id), 'every subscription to end');
    });

    it('[EVT-9] bad event_deltas are refused before streaming; pings keep the line alive; a terminated session says so and closes', async () => {
      const { session } = await createSession(client);
      await assert.rejects(client.beta.sessions.events.stream(session.id, { event_deltas: ['agent.tool_use' as never] }), Anthropic.BadRequestError);
      const stream = await client.beta.sessions.events.stream(session.id, { event_deltas: ['agent.message', 'agent.thinking'] });
      void stream;
      const response = await fetch(`${oma.url}/v1/sessions/${session.id}/events/stream`, { headers: headers() });
      const pings = await readSse(response, (messages) => messages.length >= 1);
      assert.deepEqual(pings[0], { event: 'ping', id: undefined, data: '{"type":"ping"}' });
      await client.beta.sessions.archive(session.id);
      const late = await client.beta.sessions.events.stream(session.id);
      const seen = [];
      for await (const event of late) seen.push(event.type);
      assert.deepEqual(seen, ['session.status_terminated']);
    });

    it('[SES-7] an open stream sees session.deleted, then ends', async () => {
      const { session } = await createSession(client);
      const stream = await client.beta.sessions.events.stream(session.id);
      const seen: string[] = [];
      const done = (async () => {
        for await (const event of stream) seen.push(event.type);
      })();
      await until(() => (oma.sessionLog as PostgresSessionLog).subscribedSessions().includes(session.id), 'the stream');
      await client.beta.sessions.delete(session.id);
      await done;
      assert.deepEqual(seen, ['session.deleted']);
    });

    it('[EVT-11] sends racing archive and delete never land after the end', async () => {
      const { session } = await createSession(client);
      const sends = Array.from({ length: 15 }, (_, i) => client.beta.sessions.events.send(session.id, { events: [message(`race ${i}`)] }));
      const archives = Array.from({ length: 3 }, () => client.beta.sessions.archive(session.id));
      const outcomes = await Promise.allSettled([...sends, ...archives]);
      for (const outcome of outcomes) if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof Anthropic.ConflictError, String(outcome.reason));
      const events = (await client.beta.sessions.events.list(session.id)).data;
      assert.equal(events.at(-1)!.type, 'session.status_terminated', 'the terminal event is last');
      assert.equal(events.filter((event) => event.type === 'session.status_terminated').length, 1, 'recorded once');
      assert.equal(events.length - 1, outcomes.slice(0, 15).filter((outcome) => outcome.status === 'fulfilled').length);

      const { session: doomed } = await createSession(client);
      const late = Array.from({ length: 15 }, (_, i) => client.beta.sessions.events.send(doomed.id, { events: [message(`late ${i}`)] }));
      const deleted = client.beta.sessions.delete(doomed.id);
      for (const outcome of await Promise.allSettled([...late, deleted])) {
        if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof Anthropic.ConflictError || outcome.reason instanceof Anthropic.NotFoundError, String(outcome.reason));
      }
      const { rows } = await oma.db.query('SELECT count(*)::int AS n FROM events WHERE session_id = $1', [doomed.id]);
      assert.equal(rows[0]!.n, 0, 'no event outlives the deletion');
      await assert.rejects(client.beta.sessions.events.send(doomed.id, { events: [message('after')] }), Anthropic.NotFoundError);
    });

    it('[EVT-12] unstorable text is refused before anything is written', async () => {
      const { session, agent, environment } = await createSession(client);
      await oma.db.query('DELETE FROM session_wakes WHERE session_id = $1', [session.id]);
      for (const text of ['nul \u0000 inside', 'lone \ud800 surrogate']) {
        await assert.rejects(client.beta.sessions.events.send(session.id, { events: [message(text)] }), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, String(error));
          assert.match(error.message, /events\.0\.content\.0\.text/);
          return true;
        });
      }
      assert.equal((await client.beta.sessions.events.list(session.id)).data.length, 0);
      assert.equal((await oma.db.query('SELECT 1 FROM session_wakes WHERE session_id = $1', [session.id])).rows.length, 0, 'no wake either');
      const before = (await client.beta.sessions.list({ agent_id: agent.id, include_archived: true })).data.length;
      await assert.rejects(client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, initial_events: [message('a \u0000 b')] }), Anthropic.BadRequestError);
      assert.equal((await client.beta.sessions.list({ agent_id: agent.id, include_archived: true })).data.length, before);
      const fine = await client.beta.sessions.events.send(session.id, { events: [message('emoji 😀 pairs are fine')] });
      assert.equal(fine.data!.length, 1);
    });

    it("[EVT-13] events may only name the workspace's own files", async () => {
      const { session, agent, environment } = await createSession(client);
      const mine = await client.beta.files.upload({ file: await toFile(Buffer.from('%PDF-1.4'), 'mine.pdf', { type: 'application/pdf' }) });
      const { key } = await createKey(oma.db, { workspace: `files-${storage}` });
      const other = new Anthropic({ baseURL: oma.url, apiKey: key, maxRetries: 0 });
      const theirs = await other.beta.files.upload({ file: await toFile(Buffer.from('secret'), 'theirs.txt', { type: 'text/plain' }) });
      const withFile = (fileId: string) => ({ type: 'user.message' as const, content: [{ type: 'document' as const, source: { type: 'file' as const, file_id: fileId } }] });
      const sent = await client.beta.sessions.events.send(session.id, { events: [withFile(mine.id)] });
      assert.equal(sent.data!.length, 1);
      for (const fileId of [theirs.id, 'file_unknown']) {
        await assert.rejects(client.beta.sessions.events.send(session.id, { events: [message('see attached'), withFile(fileId)] }), (error: unknown) => {
          assert.ok(error instanceof Anthropic.BadRequestError, String(error));
          assert.match(error.message, /events\.1\.content\.0\.source\.file_id/);
          return true;
        });
      }
      await assert.rejects(
        client.beta.sessions.events.send(session.id, { events: [{ type: 'user.define_outcome', description: 'd', rubric: { type: 'file', file_id: theirs.id } }] }),
        Anthropic.BadRequestError,
      );
      await assert.rejects(client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, initial_events: [withFile(theirs.id)] }), Anthropic.BadRequestError);
      assert.equal((await client.beta.sessions.events.list(session.id)).data.length, 1, 'only the valid send was appended');
    });

    it('[EVT-10] a terminated session takes no events', async () => {
      const { session } = await createSession(client);
      await oma.db.query("UPDATE sessions SET status = 'terminated' WHERE id = $1", [session.id]);
      await assert.rejects(client.beta.sessions.events.send(session.id, { events: [message('late')] }), (error: unknown) => {
        assert.ok(error instanceof Anthropic.ConflictError);
        assert.equal(error.headers.get('x-should-retry'), 'false');
        assert.equal(error.errorCode, 'session_terminated');
        return true;
      });
      assert.equal((await client.beta.sessions.events.list(session.id)).data.length, 0);
    });
  });
}
