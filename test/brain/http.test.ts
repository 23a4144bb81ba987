import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { quickstart } from '../../examples/quickstart.ts';
import { runOma, startOmaProcess, type OmaProcess } from '../../src/testing/processes.ts';
import { withoutCacheLayout } from '../../src/context/cache-layout.ts';

/** The offline demo as a user runs it: `oma fake-model` and `oma serve` as real processes, the SDK over HTTP. */
const SCRIPT = fileURLToPath(new URL('../../examples/fake-model-script.json', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'oma-brain-http-'));
const running: OmaProcess[] = [];
after(() => {
  for (const run of running) run.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function fakeModel(): Promise<string> {
  const run = runOma(['fake-model', '--script', SCRIPT, '--port', '0']);
  running.push(run);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = run.stdout().match(/listening on (http:\/\/\S+)/);
    if (match) return match[1]!;
    if (Date.now() > deadline) throw new Error(`oma fake-model did not start: ${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it('[BRAIN-26] oma serve with ANTHROPIC_BASE_URL at oma fake-model: message → tool use → tool result → final message → idle, on events.stream', async () => {
  const modelUrl = await fakeModel();
  const key = 'sk-oma-http-test-0123456789abcdef';
  const server = await startOmaProcess({ OMA_DATA_DIR: join(dir, 'data'), OMA_API_KEY: key, ANTHROPIC_BASE_URL: modelUrl, ANTHROPIC_API_KEY: 'offline' });
  running.push(server);
  const client = new Anthropic({ baseURL: server.url, apiKey: key, maxRetries: 0 });
  const lines: string[] = [];
  const result = await quickstart(client, (line) => lines.push(line));
  assert.deepEqual(result.seen, [
    'user.message',
    'session.status_running',
    'user.message',
    'span.model_request_start',
    'agent.message',
    'agent.custom_tool_use',
    'span.model_request_end',
    'session.usage',
    'session.status_idle',
    'user.custom_tool_result',
    'session.status_running',
    'span.model_request_start',
    'agent.message',
    'span.model_request_end',
    'session.usage',
    'session.status_idle',
  ]);
  assert.equal(result.answer, 'It is sunny in Paris.');
  // What reached the model over HTTP: the agent's model string and tool, the user's text, then the tool round trip.
  // Compared as content: the prompt-cache layout has its own tests (test/context).
  const requests = ((await (await fetch(`${modelUrl}/v1/fake/requests`)).json()) as any[]).map(withoutCacheLayout) as any[];
  assert.equal(requests.length, 2);
  assert.equal(requests[0].model, 'claude-sonnet-4-6');
  assert.deepEqual(requests[0].tools.map((tool: { name: string }) => tool.name), ['get_weather']);
  assert.deepEqual(requests[0].messages, [{ role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] }]);
  assert.equal(requests[1].messages.at(-1).content[0].type, 'tool_result');
  assert.equal(requests[1].messages.at(-1).content[0].content[0].text, 'Paris: 21°C and sunny');
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});
