import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LEASE_LOST_MESSAGE } from '../../src/brain/worker-calls.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, listAll, TOOLSET, userText, waitFor } from '../brain/support.ts';

/**
 * The official SDK's EnvironmentWorker, unmodified, in child processes against oma on loopback (the
 * way a user runs it on their own machine), with the SDK's own toolset: a session driven by the
 * official SDK client has its bash/read/write calls run in the worker's directory; a worker killed
 * with SIGKILL mid-call is replaced and the session goes on; two workers share sessions.
 */

const CHILD = new URL('./worker-child.ts', import.meta.url).pathname;
const bash = (command: string) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command } }] });
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
const toolEvents = (events: Record<string, any>[]) => events.filter((event) => event.type === 'agent.tool_use');
const resultOf = (events: Record<string, any>[], id: string) => events.find((event) => (event.type === 'user.tool_result' || event.type === 'agent.tool_result') && event.tool_use_id === id);

describe("the SDK's EnvironmentWorker against oma", () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-sdk-worker-'));
  const ledger = join(root, 'ledger.txt');
  const scripts = new CaseScripts();
  const workers = new Map<string, ChildProcess>();
  const logs = new Map<string, string[]>();
  let oma: TestOma;
  let environmentId: string;
  let environmentKey: string;
  let agentId: string;
  let sessions = 0;

  before(async () => {
    oma = await startTestOma({ model: scripts.model, sandboxes: new EchoSandboxProvider(), config: { workTtlSeconds: 4 } });
    environmentId = (await oma.client.beta.environments.create({ name: 'my laptop', config: { type: 'self_hosted' } } as never)).id;
    const minted = await fetch(`${oma.url}/oma/v1/environments/${environmentId}/keys`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(minted.status, 200, await minted.clone().text());
    environmentKey = ((await minted.json()) as { key: string }).key;
    agentId = (await oma.client.beta.agents.create({ name: 'remote', model: 'claude-sonnet-4-6', tools: [TOOLSET] as never })).id;
  });

  after(async () => {
    for (const child of workers.values()) kill(child);
    await oma?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  /** A worker in its own process group (so a kill takes its tools' processes too), in its own directory. */
  function startWorker(name: string): string {
    const workdir = join(root, name);
    mkdirSync(workdir, { recursive: true }); // the SDK's bash needs its cwd to exist
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { PATH: process.env.PATH, HOME: root, OMA_URL: oma.url, ANTHROPIC_ENVIRONMENT_ID: environmentId, ANTHROPIC_ENVIRONMENT_KEY: environmentKey, WORKDIR: workdir, WORKER_ID: name, MAX_IDLE_MS: '1500' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    logs.set(name, lines);
    child.stdout!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    workers.set(name, child);
    return workdir;
  }

  function kill(child: ChildProcess) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  async function session(name: string, steps: Parameters<typeof scripts.add>[1]) {
    const caseName = `${name}-${++sessions}`;
    const { requests } = scripts.add(caseName, steps);
    const created = await oma.client.beta.sessions.create({ agent: agentId, environment_id: environmentId });
    await oma.client.beta.sessions.events.send(created.id, { events: [userText(`[${caseName}] go`)] });
    return { id: created.id, requests };
  }

  const ended = (sessionId: string, timeoutMs = 60_000) => waitFor(oma.client, sessionId, (events) => lastIdle(events)?.stop_reason.type === 'end_turn', timeoutMs);

  const diagnostics = () => [...logs].map(([name, lines]) => `--- ${name}\n${lines.join('').slice(-3_000)}`).join('\n');

  it("[WORK-7] bash, write and read run in the worker's directory; the results reach the model", async () => {
    const workdir = startWorker('first');
    const { id, requests } = await session('remote-tools', [
      { content: [{ type: 'tool_use', name: 'write', input: { file_path: 'notes/hello.txt', content: 'hello from the model\n' } }] },
      bash('cat notes/hello.txt; pwd'),
      { content: [{ type: 'tool_use', name: 'read', input: { file_path: 'notes/hello.txt' } }] },
      text('All three ran on your machine.'),
    ]);
    const events = await ended(id).catch((error) => assert.fail(`${error}\n${diagnostics()}`));
    const calls = toolEvents(events);
    assert.deepEqual(calls.map((call) => call.name), ['write', 'bash', 'read']);
    const results = calls.map((call) => resultOf(events, call.id));
    assert.ok(results.every((result) => result?.type === 'user.tool_result' && result.is_error !== true), JSON.stringify(results));
    const bashOutput = results[1]!.content.map((block: { text?: string }) => block.text ?? '').join('');
    assert.match(bashOutput, /hello from the model/);
    assert.ok(bashOutput.includes(workdir), `ran in the worker's directory: ${bashOutput}`);
    assert.ok(findFile(workdir, 'hello.txt'), 'the file is on the worker\'s machine');
    assert.match(JSON.stringify(requests.at(-1)!.messages), /hello from the model/, 'the model saw the results');
  });

  it('[WORK-7] a worker killed with SIGKILL mid-call: another worker continues the session; the log shows the tool error', async () => {
    const { id } = await session('remote-kill', [bash(`echo started >> ${ledger}; sleep 20; echo finished >> ${ledger}`), bash(`echo recovered >> ${ledger}; echo recovered`), text('Recovered after losing a worker.')]);
    await waitFor(oma.client, id, () => existsSync(ledger) && readFileSync(ledger, 'utf8').includes('started'), 30_000).catch((error) => assert.fail(`${error}\n${diagnostics()}`));
    kill(workers.get('first')!);
    // The machine is gone: so are the commands its tools started (the SDK's bash runs them in a session of their own).
    spawn('pkill', ['-KILL', '-f', ledger]).on('error', () => {});
    startWorker('second');
    const events = await ended(id).catch((error) => assert.fail(`${error}\n${diagnostics()}`));
    const [cut, next] = toolEvents(events);
    const cutResult = resultOf(events, cut!.id)!;
    assert.equal(cutResult.type, 'user.tool_result', 'closed as the hands\' answer, which the next worker counts as answered');
    assert.equal(cutResult.is_error, true);
    assert.equal(cutResult.content[0].text, LEASE_LOST_MESSAGE);
    assert.equal(resultOf(events, next!.id)?.type, 'user.tool_result');
    assert.deepEqual(readFileSync(ledger, 'utf8').trim().split('\n'), ['started', 'recovered'], 'the cut call never ran again, nor finished');
  });

  it('[WORK-7] two workers share sessions: every call runs exactly once', async () => {
    startWorker('third');
    const runs = await Promise.all([1, 2, 3, 4].map((n) => session('shared', [bash(`echo s${n}-a >> ${ledger}`), bash(`echo s${n}-b >> ${ledger}`), text(`Session ${n} done.`)])));
    for (const { id } of runs) {
      const events = await ended(id).catch((error) => assert.fail(`${error}\n${diagnostics()}`));
      for (const call of toolEvents(events)) {
        const answers = (await listAll(oma.client, id)).filter((event: any) => event.tool_use_id === call.id);
        assert.equal(answers.length, 1, `call ${call.id} answered once`);
      }
    }
    const lines = readFileSync(ledger, 'utf8').trim().split('\n').filter((line) => /^s\d-/.test(line));
    assert.deepEqual([...lines].sort(), ['s1-a', 's1-b', 's2-a', 's2-b', 's3-a', 's3-b', 's4-a', 's4-b']);
  });
});

function findFile(dir: string, name: string): string | undefined {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === name) return path;
    if (statSync(path).isDirectory()) {
      const found = findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}
