import assert from 'node:assert/strict';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sandboxUid } from '../../src/sandbox/bubblewrap.ts';
import { openSandboxProvider, readWorkspaceFile, type SandboxPool } from '../../src/sandbox/index.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, listAll, newSession, userText, waitFor, waitForIdle } from '../brain/support.ts';

/** Sessions on a whole server whose brains run tools in real bubblewrap sandboxes. */
const skip = bwrapMissing();

describe('sessions with bubblewrap sandboxes', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-hands-'));
  let oma: TestOma;
  let pool: SandboxPool;
  const scripts = new CaseScripts();
  before(async () => {
    pool = openSandboxProvider('bubblewrap', { root, limits: { memoryBytes: 256 * 1024 * 1024, pids: 128, cpus: 1, diskBytes: 64 * 1024 * 1024 }, idleMs: 60_000 });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool });
  });
  after(async () => {
    await oma?.dispose();
    await pool?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const bash = (command: string) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command } }] });
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
  const results = (events: Record<string, any>[]) => events.filter((event) => event.type === 'agent.tool_result').map((event) => [event.is_error, event.content[0].text]);

  it('[HANDS-1] real bash runs in a sandbox provisioned on the first tool call, not before', async () => {
    scripts.add('real-bash', [text('No tools needed.'), bash('echo "print(6*7)" > six.py && python3 six.py; id -u; cat /etc/shadow 2>&1 | head -1'), text('42.')]);
    const session = await newSession(oma.client);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[real-bash] hello')] });
    await waitForIdle(oma.client, session.id);
    assert.ok(!pool.sessions().includes(session.id), 'a turn without tools provisions nothing');
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('compute')] });
    const events = await waitForIdle(oma.client, session.id, { count: 2 });
    assert.ok(pool.sessions().includes(session.id));
    const [[isError, output]] = results(events) as [[boolean, string]];
    assert.equal(isError, false);
    assert.deepEqual(output.split('\n').slice(0, 2), ['42', String(sandboxUid(session.id))]);
    assert.match(output.split('\n')[2]!, /No such file|Permission denied/);
    assert.equal((await readWorkspaceFile(join(root, session.id), 'six.py')).toString(), 'print(6*7)\n', 'the workspace is on the host');
  });

  it('[HANDS-2] killing the sandbox mid-call is a tool error; the next call gets a fresh sandbox with the same files', async () => {
    scripts.add('kill', [bash('echo kept > note.txt; sleep 30'), bash('cat note.txt; echo $$'), text('Recovered.')]);
    const session = await newSession(oma.client);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[kill] go')] });
    await waitFor(oma.client, session.id, (events) => events.some((event) => event.type === 'agent.tool_use'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    execFileSync('pkill', ['-KILL', '-u', String(sandboxUid(session.id))]); // everything the sandbox runs
    const events = await waitForIdle(oma.client, session.id);
    const [first, second] = results(events) as [boolean, string][];
    assert.deepEqual(first, [true, 'bash: bash session terminated']);
    assert.equal(second![0], false);
    assert.equal(second![1].split('\n')[0], 'kept');
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
  });

  it('[HANDS-3] the shell persists between turns; a reaped sandbox comes back with its workspace', async () => {
    scripts.add('persist', [bash('mkdir -p deep && cd deep && export COLOR=blue && echo ok > here.txt'), text('Set.'), bash('pwd; echo $COLOR'), text('Still there.'), bash('pwd; cat deep/here.txt'), text('Back.')]);
    const session = await newSession(oma.client);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[persist] set up')] });
    await waitForIdle(oma.client, session.id);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('check')] });
    let events = await waitForIdle(oma.client, session.id, { count: 2 });
    assert.deepEqual(results(events).at(-1), [false, '/workspace/deep\nblue']);
    await pool.reap(Date.now() + 120_000);
    assert.ok(!pool.sessions().includes(session.id), 'reaped');
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('again')] });
    events = await waitForIdle(oma.client, session.id, { count: 3 });
    assert.deepEqual(results(events).at(-1), [false, '/workspace\nok'], 'a fresh shell, the same files');
  });

  it('[HANDS-4] file resources are placed at provision: default mount read-only, paths under /workspace writable copies', async () => {
    scripts.add('files', [
      bash('cat /mnt/session/uploads/*; cat data/in.csv; echo more >> data/in.csv && echo appended; (echo x >> /mnt/session/uploads/*) 2>/dev/null || echo read-only'),
      text('Read them.'),
    ]);
    const upload = (name: string, body: string) => oma.client.beta.files.upload({ file: new File([body], name, { type: 'text/plain' }) });
    const [report, csv] = await Promise.all([upload('report.txt', 'quarterly report\n'), upload('in.csv', 'a,b\n1,2\n')]);
    const agent = await oma.client.beta.agents.create({ name: 'files', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
    const environment = await oma.client.beta.environments.create({ name: `files ${Date.now()}` });
    const session = await oma.client.beta.sessions.create({
      agent: agent.id,
      environment_id: environment.id,
      resources: [{ type: 'file', file_id: report.id }, { type: 'file', file_id: csv.id, mount_path: '/workspace/data/in.csv' }],
    });
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[files] read')] });
    const events = await waitForIdle(oma.client, session.id);
    assert.deepEqual(results(events), [[false, 'quarterly report\na,b\n1,2\nappended\nread-only']]);
    assert.equal((await readWorkspaceFile(join(root, session.id), 'data/in.csv')).toString(), 'a,b\n1,2\nmore\n');
  });

  it('[HANDS-5] each tool result keeps, privately in the log, which sandbox ran it and how long provisioning and the call took', async () => {
    scripts.add('trace', [bash('true'), bash('true'), text('Traced.')]);
    const session = await newSession(oma.client);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[trace] go')] });
    const events = await waitForIdle(oma.client, session.id);
    assert.ok(events.every((event) => !('_oma' in event)), 'not shown to clients');
    const { rows } = await oma.db.query<{ payload: { _oma: { trace: { sandbox: string; provisionMs?: number; executeMs: number } } } }>(
      "SELECT payload FROM events WHERE session_id = $1 AND type = 'agent.tool_result' ORDER BY seq",
      [session.id],
    );
    const [first, second] = rows.map((row) => row.payload._oma.trace);
    assert.equal(first!.sandbox, 'bubblewrap');
    assert.ok(first!.provisionMs! > 0 && first!.executeMs > 0);
    assert.equal(second!.provisionMs, undefined, 'the second call reuses the sandbox');
  });

  it('[HANDS-13] a sandbox that died and one reaped idle are each recorded in the session log, privately, with why and how long', async () => {
    scripts.add('ends', [bash('sleep 30'), text('It died.'), bash('echo again'), text('Fine.')]);
    const session = await newSession(oma.client);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[ends] go')] });
    await waitFor(oma.client, session.id, (events) => events.some((event) => event.type === 'agent.tool_use'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    execFileSync('pkill', ['-KILL', '-u', String(sandboxUid(session.id))]);
    await waitForIdle(oma.client, session.id);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('once more')] });
    const events = await waitForIdle(oma.client, session.id, { count: 2 });
    await pool.reap(Date.now() + 120_000);
    const { rows } = await oma.db.query<{ payload: Record<string, unknown> }>("SELECT payload FROM events WHERE session_id = $1 AND type = 'oma.span' ORDER BY seq", [session.id]);
    assert.deepEqual(rows.map((row) => [row.payload.name, row.payload.sandbox, row.payload.reason]), [
      ['sandbox.dispose', 'bubblewrap', 'dead'],
      ['sandbox.dispose', 'bubblewrap', 'idle'],
    ]);
    for (const { payload } of rows) assert.ok(Number(payload.lived_ms) > 0 && Number(payload.duration_ms) >= 0, JSON.stringify(payload));
    const listed = await listAll(oma.client, session.id);
    assert.ok(!listed.some((event) => event.type.startsWith('oma.')), 'internal: never listed');
    assert.equal(listed.length, events.length);
  });
});
