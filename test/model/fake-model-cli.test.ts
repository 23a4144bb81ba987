import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { runOma, runOmaToEnd, type OmaProcess } from '../../src/testing/processes.ts';

/** `oma fake-model` as the offline demo runs it: a real process, real signals. */

const EXAMPLE = fileURLToPath(new URL('../../examples/fake-model-script.json', import.meta.url));
const running: OmaProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'oma-fake-model-cli-'));
after(() => {
  for (const run of running) run.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startFakeModel(args: string[], timeoutMs = 20_000) {
  const run = runOma(['fake-model', ...args]);
  running.push(run);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = run.stdout().match(/^fake model listening on (http:\/\/\S+) \((\d+) scripted responses\)\n/);
    if (match) return { ...run, url: match[1]!, count: Number(match[2]) };
    const ended = await Promise.race([run.exited, new Promise((resolve) => setTimeout(resolve, 25, 'waiting'))]);
    if (ended !== 'waiting') throw new Error(`oma fake-model exited (${String(ended)}):\n${run.stdout()}\n${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`oma fake-model did not listen within ${timeoutMs} ms:\n${run.stderr()}`);
  }
}

describe('oma fake-model', () => {
  it('serves the example script to the SDK, then exits 0 on SIGTERM', async () => {
    const run = await startFakeModel(['--script', EXAMPLE, '--port', '0']);
    assert.equal(run.count, 2);
    assert.match(run.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new Anthropic({ baseURL: run.url, apiKey: 'x', maxRetries: 0 });
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
    const first = await client.messages.stream({ model: 'claude-demo', max_tokens: 100, tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] }).finalMessage();
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.content[0]?.type === 'text' && first.content[0].text, 'Let me check.');
    const call = first.content[1];
    assert.ok(call?.type === 'tool_use');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.input, { city: 'Paris' });
    const second = await client.messages.create({
      model: 'claude-demo',
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny' }] },
      ],
    });
    assert.deepEqual(second.content, [{ type: 'text', text: 'It is sunny in Paris.', citations: null }]);
    assert.equal(second.stop_reason, 'end_turn');
    // The script is exhausted: the default answer is a 400, which the SDK surfaces.
    await assert.rejects(client.messages.create({ model: 'claude-demo', max_tokens: 1, messages: [{ role: 'user', content: 'more' }] }), Anthropic.BadRequestError);
    const recorded = (await (await fetch(`${run.url}/v1/fake/requests`)).json()) as unknown[];
    assert.equal(recorded.length, 3);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
  });

  it('--when-exhausted end_turn keeps answering; SIGINT exits 0 too', async () => {
    const run = await startFakeModel(['--script', EXAMPLE, '--port', '0', '--when-exhausted', 'end_turn']);
    const client = new Anthropic({ baseURL: run.url, apiKey: 'x', maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] });
    const exhausted = await client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(exhausted.content, [{ type: 'text', text: '(script exhausted)', citations: null }]);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0);
  });

  it('a bad script file exits 1 with a one-line message naming the problem', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ steps: [{ content: [{ type: 'tool_use', input: {} }] }] }));
    const invalid = await runOmaToEnd(['fake-model', '--script', bad, '--port', '0']);
    assert.equal(invalid.code, 1);
    assert.equal(invalid.stdout, '');
    assert.match(invalid.stderr, /^oma fake-model: .*bad\.json.*steps\[0\]\.content\[0\]\.name.*\n$/);

    const missing = await runOmaToEnd(['fake-model', '--script', join(dir, 'missing.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^oma fake-model: cannot read script .*missing\.json.*\n$/);

    writeFileSync(bad, '[');
    const notJson = await runOmaToEnd(['fake-model', '--script', bad]);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /not valid JSON/);

    const wrongFlag = await runOmaToEnd(['fake-model', '--script', EXAMPLE, '--when-exhausted', 'loop']);
    assert.equal(wrongFlag.code, 1);
    assert.match(wrongFlag.stderr, /--when-exhausted must be error or end_turn/);
  });
});
