import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isCompactionRequest } from '../../src/context/compaction.ts';
import type { ModelRequest } from '../../src/model/interface.ts';
import { readWorkspaceFile } from '../../src/sandbox/index.ts';
import { freshPgliteDir } from '../../src/testing/databases.ts';
import { startFakeModelServer } from '../../src/testing/fake-model-server.ts';
import { startOmaProcess, type OmaProcess } from '../../src/testing/processes.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';
import { API_KEY, crashClient, listEvents, persist } from './harness.ts';

/**
 * kill -9 while the brain waits for a compaction's summary: the restarted server compacts again and
 * the session goes on, nothing lost and no tool call run twice.
 */

const ROUNDS = 18;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Round n+1 after round n (read from the newest tool call, which no view ever drops); compaction requests: a summary, the first one slowly. */
function script(compactions: { count: number }) {
  return (request: ModelRequest): ScriptStep => {
    if (isCompactionRequest(request)) {
      compactions.count++;
      return { delay_ms: compactions.count === 1 ? 60_000 : 50, content: [{ type: 'text', text: `Summary: build steps are running; continue after the newest.` }] };
    }
    const lastAssistant = request.messages.filter((message) => message.role === 'assistant').at(-1);
    const uses = typeof lastAssistant?.content === 'string' ? [] : (lastAssistant?.content ?? []).filter((block) => block.type === 'tool_use');
    const done = Number(/step-(\d+)/.exec(JSON.stringify(uses.at(-1)?.input ?? {}))?.[1] ?? 0);
    if (done >= ROUNDS) return { content: [{ type: 'text', text: 'All steps done.' }] };
    const n = done + 1;
    // Each call leaves a line in a ledger (a call run twice shows), prints 3 KB, and carries a long comment (tool inputs are never trimmed).
    return { content: [{ type: 'tool_use', name: 'bash', input: { command: `echo step-${n} >> /workspace/ledger; head -c 3000 /dev/zero | tr '\\0' x # ${'pad '.repeat(400)}` } }] };
  };
}

describe('crash: kill -9 during a compaction', { skip: bwrapMissing() }, () => {
  it('[CTX-4] [CTX-5] the server killed while it waits for a summary compacts again after the restart; the session finishes, every call once, the log complete', { timeout: 180_000 }, async () => {
    const compactions = { count: 0 };
    const model = new ScriptedModel(script(compactions));
    const fake = await startFakeModelServer({ model });
    cleanups.push(() => fake.close());
    const dir = await freshPgliteDir();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = { OMA_DATA_DIR: dir, OMA_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: 'fake', OMA_LEASE_TTL_MS: '1500', OMA_CONTEXT_WINDOW: '8000', OMA_MAX_TOKENS: '1000' };
    let server: OmaProcess & { url: string } = await startOmaProcess(env, 60_000);
    cleanups.push(() => void server.child.kill('SIGKILL'));
    let url = server.url;
    const client = crashClient(() => url);
    const agent = await client.beta.agents.create({ name: 'builder', model: 'claude-sonnet-4-6', system: 'You run build steps.', tools: [{ type: 'agent_toolset_20260401' }] });
    const environment = await client.beta.environments.create({ name: 'build', config: { type: 'cloud', networking: { type: 'unrestricted' } } });
    const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'Run the build steps.' }] }] });

    // Kill it while the first compaction request waits for its answer.
    for (const deadline = Date.now() + 90_000; !model.requests.some(isCompactionRequest); ) {
      if (Date.now() > deadline) assert.fail(`no compaction request in ${model.requests.length} requests`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    server.child.kill('SIGKILL');
    await server.exited;
    server = await startOmaProcess(env, 60_000);
    url = server.url;

    let events = await listEvents(client, session.id);
    for (const deadline = Date.now() + 90_000; events.at(-1)?.type !== 'session.status_idle'; events = await listEvents(client, session.id)) {
      if (Date.now() > deadline) assert.fail(`the session did not finish: ${events.map((event) => event.type).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(events.at(-1)!.stop_reason, { type: 'end_turn' });
    assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
    assert.ok(compactions.count >= 2, `asked for a summary ${compactions.count} times: once cut by the kill, then again`);
    assert.ok(events.some((event) => event.type === 'agent.thread_context_compacted'));
    const uses = events.filter((event) => event.type === 'agent.tool_use');
    assert.equal(uses.length, ROUNDS);
    for (const use of uses) assert.equal(events.filter((event) => event.type === 'agent.tool_result' && event.tool_use_id === use.id).length, 1, `${use.id}: one result`);
    const ledger = (await persist(() => readWorkspaceFile(join(dir, 'workspaces', session.id), 'ledger'))).toString().trim().split('\n');
    assert.deepEqual(ledger, Array.from({ length: ROUNDS }, (_, index) => `step-${index + 1}`), 'every call ran once, in order');
    assert.equal(new Set(events.map((event) => event.id)).size, events.length);
    server.child.kill('SIGTERM');
    await server.exited;
  });
});
