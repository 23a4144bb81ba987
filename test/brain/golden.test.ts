import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Brain } from '../../src/brain/brain.ts';
import { newId } from '../../src/ids.ts';
import { SessionHistory } from '../../src/brain/history.ts';
import { buildRequest, type AgentSnapshot } from '../../src/brain/request.ts';
import type { StoredEvent } from '../../src/session/interface.ts';
import { requestWake } from '../../src/sessions/store.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';
import { withoutCacheLayout } from '../../src/context/cache-layout.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { lastIdle, listAll, newSession, userText } from './support.ts';

/**
 * Recorded session logs (test/golden/*.jsonl, made by test/golden/record.ts) must keep working: the
 * request built from each is unchanged, and a brain woken on each continues it correctly. A change
 * that breaks old sessions fails here.
 */
const GOLDEN = new URL('../golden/', import.meta.url).pathname;
const NAMES = ['tool-turn', 'crashed-mid-turn', 'requires-action'] as const;

function load(name: string): { agent: AgentSnapshot; events: StoredEvent[] } {
  const [header, ...lines] = readFileSync(`${GOLDEN}${name}.jsonl`, 'utf8').trim().split('\n');
  const events = lines.map((line) => {
    const row = JSON.parse(line);
    return { sessionId: 'golden', seq: row.seq, id: row.id, type: row.type, payload: row.payload, createdAt: new Date(row.created_at) };
  });
  return { agent: JSON.parse(header!).agent, events };
}

describe('golden logs: the request builder', () => {
  for (const name of NAMES) {
    it(`[BRAIN-20] ${name}: the request built from the recorded log matches the golden request`, () => {
      const { agent, events } = load(name);
      const expected = JSON.parse(readFileSync(`${GOLDEN}${name}.request.json`, 'utf8'));
      assert.deepEqual(buildRequest(events, agent, { maxTokens: 16_384 }), expected);
    });
  }
});

for (const storage of ['pglite', 'postgres'] as const) {
  describe(`golden logs wake again (${storage})`, { skip: storage === 'postgres' && skipPostgres }, () => {
    let oma: TestOma;
    before(async () => {
      oma = await startTestOma({ storage });
    });
    after(() => oma?.dispose());

    /** A session of this server holding the recorded log, its row as the log left it, its wake requested. */
    async function restore(name: string) {
      const loaded = load(name);
      const { agent } = loaded;
      // Event ids are unique across a database, and two golden logs share a prefix: give this copy its own.
      const ids = new Map(loaded.events.map((event) => [event.id, newId('sevt')]));
      const remap = (value: string) => [...ids].reduce((text, [from, to]) => text.replaceAll(from, to), value);
      const events = (JSON.parse(remap(JSON.stringify(loaded.events))) as StoredEvent[]).map((event) => ({ ...event, createdAt: new Date(event.createdAt) }));
      const session = await newSession(oma.client);
      const status = new SessionHistory(events).status;
      await oma.db.query('UPDATE sessions SET agent = $2::jsonb, status = $3 WHERE id = $1', [session.id, JSON.stringify(agent), status]);
      const rows = events.map((event) => ({ seq: event.seq, id: event.id, type: event.type, payload: event.payload, created_at: event.createdAt.toISOString() }));
      await oma.db.query(
        `INSERT INTO events (session_id, seq, id, type, payload, created_at)
         SELECT $1, seq, id, type, payload, created_at FROM jsonb_to_recordset($2::jsonb) AS x(seq bigint, id text, type text, payload jsonb, created_at timestamptz)`,
        [session.id, JSON.stringify(rows)],
      );
      await oma.db.query('INSERT INTO session_logs (session_id, last_seq, last_at) VALUES ($1, $2, $3)', [session.id, events.length, rows.at(-1)!.created_at]);
      await requestWake(oma.db, session.id);
      return { sessionId: session.id, events, remap };
    }

    function brain(steps: ScriptStep[]) {
      const model = new ScriptedModel(steps);
      const sandbox = new EchoSandboxProvider();
      return { model, sandbox, brain: new Brain({ db: oma.db, log: oma.sessionLog, model, sandboxes: sandbox, owner: 'golden' }) };
    }

    it('[BRAIN-21] tool-turn: a finished turn takes the next message with the whole history', async () => {
      const { sessionId, remap } = await restore('tool-turn');
      const golden = JSON.parse(remap(readFileSync(`${GOLDEN}tool-turn.request.json`, 'utf8')));
      const { model, brain: woken } = brain([{ content: [{ type: 'text', text: 'MIT.' }] }]);
      await woken.wake(sessionId);
      assert.equal(model.requests.length, 0, 'nothing to do until a new message');
      await oma.client.beta.sessions.events.send(sessionId, { events: [userText('And the license?')] });
      await woken.wake(sessionId);
      assert.deepEqual(withoutCacheLayout(model.requests[0]!).messages, [...golden.messages, { role: 'user', content: [{ type: 'text', text: 'And the license?' }] }]);
      assert.equal(lastIdle(await listAll(oma.client, sessionId)).stop_reason.type, 'end_turn');
    });

    it('[BRAIN-21] crashed-mid-turn: the cut-off call is reported, the turn finishes', async () => {
      const { sessionId } = await restore('crashed-mid-turn');
      const { model, sandbox, brain: woken } = brain([{ content: [{ type: 'text', text: 'The listing was cut off; trying again is safe.' }] }]);
      await woken.wake(sessionId);
      assert.equal(sandbox.calls.length, 0, 'bash is not re-run blindly');
      const messages = model.requests[0]!.messages;
      assert.deepEqual((messages[1]!.content as { type: string }[]).map((block) => block.type), ['thinking', 'text', 'tool_use']);
      assert.match(JSON.stringify(messages[2]), /cut off by a restart/);
      const events = await listAll(oma.client, sessionId);
      assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
      assert.equal((await oma.client.beta.sessions.retrieve(sessionId)).status, 'idle');
    });

    it('[BRAIN-21] requires-action: waits for the client, then runs the confirmed call and continues', async () => {
      const { sessionId, events: recorded } = await restore('requires-action');
      const { model, sandbox, brain: woken } = brain([{ content: [{ type: 'text', text: 'Restarted.' }] }]);
      await woken.wake(sessionId);
      assert.equal((await listAll(oma.client, sessionId)).length, recorded.filter((event) => !event.type.startsWith('oma.')).length, 'still waiting: nothing appended');
      const [custom, ask] = [recorded.find((event) => event.type === 'agent.custom_tool_use')!, recorded.find((event) => event.type === 'agent.tool_use')!];
      await oma.client.beta.sessions.events.send(sessionId, {
        events: [
          { type: 'user.custom_tool_result', custom_tool_use_id: custom.id, content: [{ type: 'text', text: 'OPS-42: restart approved' }] },
          { type: 'user.tool_confirmation', tool_use_id: ask.id, result: 'allow' },
        ],
      });
      await woken.wake(sessionId);
      assert.deepEqual(sandbox.calls.map((call) => call.input), [{ command: 'systemctl restart web' }]);
      const results = model.requests[0]!.messages.at(-1)!.content as { tool_use_id: string }[];
      assert.deepEqual(results.map((block) => block.tool_use_id), [custom.id, ask.id]);
      assert.equal(lastIdle(await listAll(oma.client, sessionId)).stop_reason.type, 'end_turn');
    });
  });
}
