import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { quickstart } from '../../examples/quickstart.ts';
import { loadScript, ScriptedModel } from '../../src/testing/scripted-model.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

const SCRIPT = fileURLToPath(new URL('../../examples/fake-model-script.json', import.meta.url));
let oma: TestOma;
let model: ScriptedModel;
before(async () => {
  model = new ScriptedModel(loadScript(SCRIPT));
  oma = await startTestOma({ model });
});
after(() => oma?.dispose());

it('[SES-1] the quickstart runs unchanged with only the official SDK: agent, environment, session, stream, send, tool call, answer, list', async () => {
  const lines: string[] = [];
  const result = await quickstart(oma.client, (line) => lines.push(line));
  assert.equal(result.session.status, 'idle');
  assert.match(lines[0]!, /^session sesn_\w+ is idle, pinned to agent_\w+ v1$/);
  assert.equal(result.answer, 'It is sunny in Paris.');
  assert.ok(lines.includes('tool get_weather({"city":"Paris"}) → Paris: 21°C and sunny'));
  assert.equal(lines.at(-2), 'idle: end_turn');
  assert.equal(result.seen[0], 'user.message', 'stream first, then send: the stream sees the message');
  const history = result.history.map((event) => event.type);
  assert.deepEqual(history.slice(0, 2), ['user.message', 'session.status_running']);
  assert.deepEqual(history.slice(-2), ['session.usage', 'session.status_idle']);
  assert.ok(history.includes('agent.custom_tool_use') && history.includes('user.custom_tool_result'));
  assert.equal(model.requests.length, 2);
});
