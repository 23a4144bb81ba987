import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { quickstart } from '../../examples/quickstart.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

let oma: TestOma;
before(async () => (oma = await startTestOma()));
after(() => oma?.dispose());

it('[SES-1] the quickstart runs unchanged with only the official SDK: agent, environment, session, send, stream, list', async () => {
  const lines: string[] = [];
  const result = await quickstart(oma.client, (line) => lines.push(line));
  assert.equal(result.session.status, 'idle');
  assert.equal(result.seen?.type, 'user.message');
  assert.deepEqual(result.history.map((event) => event.type), ['user.message']);
  assert.equal(result.history[0]!.id, result.seen!.id, 'the streamed event is the stored one');
  assert.match(lines[0]!, /^session sesn_\w+ is idle, pinned to agent_\w+ v1$/);
});
