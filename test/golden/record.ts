/**
 * Records the golden session logs (`*.jsonl`) and the requests the brain builds from them
 * (`*.request.json`). Run by hand, and only when a change to the log or the request is intended:
 *   node --import tsx test/golden/record.ts
 * Each `.jsonl` starts with a header line `{"agent": …}` (the session's pinned agent), then one
 * stored event per line. `test/brain/golden.test.ts` replays them on every test run.
 */
import { writeFileSync } from 'node:fs';
import { buildRequest } from '../../src/brain/request.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { ScriptedModel } from '../../src/testing/scripted-model.ts';
import { startTestOma } from '../../src/testing/server.ts';
import { newSession, userText, waitForIdle } from '../brain/support.ts';

const dir = new URL('.', import.meta.url).pathname;
const model = new ScriptedModel([
  // tool-turn: thinking, text and two parallel calls; a steering message; the final answer
  {
    content: [
      { type: 'thinking', thinking: 'I should look at the files first.', signature: 'sig-golden-1' },
      { type: 'text', text: 'Looking around.' },
      { type: 'tool_use', name: 'bash', input: { command: 'ls -la', sleep_ms: 300 } },
      { type: 'tool_use', name: 'read', input: { file_path: 'README.md' } },
    ],
    usage: { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 1000 },
  },
  { content: [{ type: 'text', text: 'There is a README and a src directory; tests are in test/.' }], usage: { input_tokens: 1500, output_tokens: 30 } },
  // requires-action: a custom tool and a call that asks, in one response
  {
    content: [
      { type: 'tool_use', name: 'lookup_ticket', input: { id: 'OPS-42' } },
      { type: 'tool_use', name: 'bash', input: { command: 'systemctl restart web' } },
    ],
  },
]);
const sandbox = new EchoSandboxProvider();
const oma = await startTestOma({ model, sandboxes: sandbox });
const { client } = oma;

async function dump(name: string, sessionId: string, cut?: (events: { type: string }[]) => number) {
  const { rows: [session] } = await oma.db.query<{ agent: Record<string, unknown> }>('SELECT agent FROM sessions WHERE id = $1', [sessionId]);
  let events = await oma.sessionLog.read(sessionId);
  if (cut) events = events.slice(0, cut(events));
  const lines = [JSON.stringify({ agent: session!.agent }), ...events.map((event) => JSON.stringify({ seq: event.seq, id: event.id, type: event.type, payload: event.payload, created_at: event.createdAt }))];
  writeFileSync(`${dir}${name}.jsonl`, `${lines.join('\n')}\n`);
  const request = buildRequest(events, session!.agent as never, { maxTokens: 16_384 });
  writeFileSync(`${dir}${name}.request.json`, `${JSON.stringify(request, null, 2)}\n`);
}

const toolTurn = await newSession(client, { system: 'You are a careful engineer.' });
await client.beta.sessions.events.send(toolTurn.id, { events: [userText('What is in this repository?')] });
while (sandbox.calls.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
await client.beta.sessions.events.send(toolTurn.id, { events: [userText('Also say where the tests are.')] });
await waitForIdle(client, toolTurn.id);
await dump('tool-turn', toolTurn.id);
// The same log cut right after the first tool use: as a brain that died mid-turn leaves it.
await dump('crashed-mid-turn', toolTurn.id, (events) => events.findIndex((event) => event.type === 'agent.tool_use') + 1);

const pending = await newSession(client, {
  tools: [
    { type: 'agent_toolset_20260401', default_config: { permission_policy: { type: 'always_ask' } } },
    { type: 'custom', name: 'lookup_ticket', description: 'Find a ticket', input_schema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
  ],
});
await client.beta.sessions.events.send(pending.id, { events: [userText('Restart the web service if OPS-42 says so.')] });
await waitForIdle(client, pending.id);
await dump('requires-action', pending.id);

await oma.dispose();
console.log('recorded tool-turn, crashed-mid-turn, requires-action');
