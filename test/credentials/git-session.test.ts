import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SPAN } from '../../src/brain/history.ts';
import { sandboxUid } from '../../src/sandbox/bubblewrap.ts';
import { openSandboxProvider, type SandboxPool } from '../../src/sandbox/index.ts';
import { startGitServer } from '../../src/testing/git-server.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, listAll, TOOLSET, userText, waitForIdle } from '../brain/support.ts';

/**
 * Repository resources end to end: a session driven by the official SDK clones a token-protected
 * repository on a real git smart-HTTP server, commits, pushes and pulls from inside a bubblewrap
 * sandbox, through the host's git proxy; the token never enters the sandbox.
 */
const skip = bwrapMissing();

describe('git repositories in sessions', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-git-'));
  const token = `OMACANARY-git-token-${Date.now()}`;
  const scripts = new CaseScripts();
  let git: Awaited<ReturnType<typeof startGitServer>>;
  let oma: TestOma;
  let pool: SandboxPool;
  let agentId: string;
  let environmentId: string;

  before(async () => {
    git = await startGitServer({ token });
    pool = openSandboxProvider('bubblewrap', { root, limits: { memoryBytes: 512 * 1024 * 1024, pids: 256, cpus: 1, diskBytes: 0 }, idleMs: 60_000 });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool });
    agentId = (await oma.client.beta.agents.create({ name: 'git agent', model: 'claude-sonnet-4-6', tools: [TOOLSET] as never })).id;
    environmentId = (await oma.client.beta.environments.create({ name: 'git env' })).id;
  });
  after(async () => {
    await oma?.dispose();
    await pool?.close();
    await git?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const bash = (command: string) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command } }] });
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
  const outputs = (events: Record<string, any>[]) => events.filter((event) => event.type === 'agent.tool_result').map((event) => ({ isError: event.is_error as boolean, text: event.content[0].text as string }));

  let sessions = 0;
  const cases = new Map<string, string>();

  async function session(resources: unknown[]) {
    const created = await oma.client.beta.sessions.create({ agent: agentId, environment_id: environmentId, resources } as never);
    cases.set(created.id, `git-${++sessions}`);
    return created;
  }

  /** One turn running `commands` (the scripted model routes by the session's first message, so each turn replaces its case's script). */
  async function turn(sessionId: string, _label: string, commands: string[], count = 1) {
    const name = cases.get(sessionId)!;
    scripts.add(name, [...commands.map(bash), text('Done.')]);
    await oma.client.beta.sessions.events.send(sessionId, { events: [userText(`[${name}] ${_label}`)] });
    const events = await waitForIdle(oma.client, sessionId, { count, timeoutMs: 60_000 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn', JSON.stringify(events.filter((event) => event.type === 'session.error')));
    return events;
  }

  /** Every event of the session as stored, internal ones included (what `events.list` leaves out). */
  const stored = (sessionId: string) => oma.sessionLog.read(sessionId);

  const upstreamLog = (name: string) => execFileSync('git', ['--git-dir', join(git.root, `${name}.git`), 'log', '--format=%s', 'main'], { encoding: 'utf8' }).trim().split('\n');

  it('[GIT-1] [GIT-2] [GIT-4] clone at provision, commit, push and pull through the proxy; the token stays on the host', async () => {
    const url = await git.createRepo('app', { 'README.md': 'hello from upstream\n' });
    const created = await session([{ type: 'github_repository', url, authorization_token: token, mount_path: '/workspace/app' }]);
    assert.ok(!JSON.stringify(created).includes(token), 'the session does not echo the token');
    let events = await turn(created.id, 'git-push', [
      'cd /workspace/app && cat README.md && git config --get remote.origin.url',
      'cd /workspace/app && echo "agent line" >> README.md && git commit -qam "agent change" && git push -q origin HEAD:main 2>&1 && echo pushed',
    ]);
    let [read, push] = outputs(events);
    assert.equal(read!.isError, false, read!.text);
    assert.equal(read!.text, `hello from upstream\n${url}`, 'cloned at its mount path; origin keeps its own URL');
    assert.equal(push!.isError, false, push!.text);
    assert.match(push!.text, /pushed$/);
    assert.deepEqual(upstreamLog('app').slice(0, 1), ['agent change'], 'the push landed upstream');
    // Someone else pushes upstream; the agent pulls it.
    await git.commitUpstream('app', { 'OTHER.md': 'from a colleague\n' }, 'colleague change');
    events = await turn(created.id, 'git-pull', ['cd /workspace/app && git pull -q --no-rebase origin main 2>&1 && cat OTHER.md && git log --format=%s | head -3'], 2);
    const [pull] = outputs(events).slice(-1);
    assert.equal(pull!.isError, false, pull!.text);
    assert.match(pull!.text, /from a colleague/);
    // Every operation is an event of the session: fetches for the clone and the pull, and the push.
    const operations = (await stored(created.id)).filter((event) => event.type === SPAN && String(event.payload.name).startsWith('git.'));
    const names = operations.map((event) => event.payload.name);
    assert.ok(names.includes('git.fetch') && names.includes('git.push'), `operations: ${names.join(', ')}`);
    for (const operation of operations) {
      assert.equal(operation.payload.repository, url);
      assert.equal(typeof operation.payload.duration_ms, 'number');
    }
    assert.ok(operations.filter((event) => event.payload.name !== 'git.refused').every((event) => event.payload.status === 200), 'all succeeded');
    // The token: never in any event, the sandbox's git config, its environment or files.
    events = await turn(created.id, 'git-look', ['cat /etc/gitconfig /workspace/app/.git/config; env; git config --list --show-origin; grep -rl OMACANARY / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr 2>/dev/null | head; echo END'], 3);
    const [look] = outputs(events).slice(-1);
    assert.match(look!.text, /END$/);
    assert.ok(!look!.text.includes('OMACANARY'), look!.text);
    assert.ok(!JSON.stringify(await stored(created.id)).includes(token), 'no event holds the token');
    assert.ok(!JSON.stringify(await oma.client.beta.sessions.resources.list(created.id)).includes(token));
  });

  it('[GIT-2] a rotated token is used from the next operation on', async (t) => {
    const url = await git.createRepo('rotate', { 'a.txt': 'a\n' });
    const created = await session([{ type: 'github_repository', url, authorization_token: token }]);
    await turn(created.id, 'rotate-clone', ['cd /workspace/rotate && cat a.txt']);
    const rotated = `${token}-rotated`;
    git.setToken(rotated); // the old token expired upstream
    t.after(() => git.setToken(token));
    let events = await turn(created.id, 'rotate-old', ['cd /workspace/rotate && git fetch -q origin 2>&1; echo "status $?"'], 2);
    assert.match(outputs(events).at(-1)!.text, /status [1-9]/, 'the old token is refused');
    const [resource] = (await oma.client.beta.sessions.resources.list(created.id)).data as { id: string }[];
    await oma.client.beta.sessions.resources.update(resource!.id, { session_id: created.id, authorization_token: rotated } as never);
    events = await turn(created.id, 'rotate-new', ['cd /workspace/rotate && git fetch -q origin 2>&1; echo "status $?"'], 3);
    assert.match(outputs(events).at(-1)!.text, /status 0$/, 'the new token works at once, in the same sandbox');
  });

  it("[GIT-3] only the session's own repositories: other repositories, paths and hosts are refused and logged", async () => {
    const url = await git.createRepo('mine', { 'm.txt': 'mine\n' });
    const foreign = await git.createRepo('foreign', { 'secret.txt': 'not yours\n' });
    const created = await session([{ type: 'github_repository', url, authorization_token: token }]);
    const [resource] = (await oma.client.beta.sessions.resources.list(created.id)).data as { id: string }[];
    const events = await turn(created.id, 'foreign', [
      `git ls-remote ${foreign} 2>&1; echo "direct $?"`,
      `git ls-remote http://127.0.0.1:3129/sesrsc_someoneelse 2>&1; echo "unknown $?"`,
      `curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:3129/${resource!.id}/objects/info/packs; echo " path"`,
      'cat /workspace/mine/m.txt',
    ]);
    const [direct, unknown, path, mine] = outputs(events);
    assert.match(direct!.text, /direct [1-9]/, direct!.text);
    assert.match(unknown!.text, /unknown [1-9]/, unknown!.text);
    assert.match(path!.text, /^40[34] path$/m, path!.text);
    assert.equal(mine!.text, 'mine');
    let refused = (await stored(created.id)).filter((event) => event.type === SPAN && event.payload.name === 'git.refused');
    assert.ok(refused.length >= 2, `refusals logged: ${JSON.stringify(refused.map((event) => event.payload))}`);
    assert.ok(!git.requests.some((request) => request.path.includes('foreign')), 'the foreign repository was never reached');
    // The services' sockets are the sandbox uid's alone: no other user of the host may connect to them.
    const dirs = readdirSync(tmpdir()).filter((name) => name.startsWith('oma-net-')).map((name) => join(tmpdir(), name)).filter((dir) => statSync(dir).uid === sandboxUid(created.id));
    assert.equal(dirs.length, 1);
    assert.equal(statSync(dirs[0]!).mode & 0o777, 0o700);
    for (const name of readdirSync(dirs[0]!)) assert.equal(statSync(join(dirs[0]!, name)).mode & 0o077, 0, `${name} is the sandbox's alone`);
    // A resource detached from the session is no longer served, even to the sandbox that cloned it.
    await oma.client.beta.sessions.resources.delete(resource!.id, { session_id: created.id });
    const after = await turn(created.id, 'detached', ['cd /workspace/mine && git fetch -q origin 2>&1; echo "status $?"'], 2);
    assert.match(outputs(after).at(-1)!.text, /no repository .* in this session[\s\S]*status [1-9]\d*$/);
    refused = (await stored(created.id)).filter((event) => event.type === SPAN && event.payload.name === 'git.refused');
    assert.equal(refused.at(-1)!.payload.resource_id, resource!.id);
  });

  it('[GIT-1] a repository URL with user info (a token in the URL) is refused; nothing is created', async () => {
    const before = (await oma.client.beta.sessions.list({ limit: 100 })).data.length;
    await assert.rejects(session([{ type: 'github_repository', url: `http://x-access-token:${token}@127.0.0.1:1/o/r.git` }]), (error: Error & { status?: number }) => {
      assert.equal(error.status, 400);
      assert.match(error.message, /user info/);
      assert.ok(!error.message.includes(token), 'the error does not echo the token');
      return true;
    });
    assert.equal((await oma.client.beta.sessions.list({ limit: 100 })).data.length, before);
  });

  it('[GIT-5] a repository that cannot be cloned is a session.error; the session carries on', async () => {
    const url = await git.createRepo('locked', { 'l.txt': 'l\n' });
    const created = await session([
      { type: 'github_repository', url, authorization_token: 'wrong-token' },
      { type: 'github_repository', url: git.repoUrl('missing'), authorization_token: token },
      { type: 'github_repository', url: await git.createRepo('branchy', { 'b.txt': 'b\n' }), authorization_token: token, checkout: { type: 'branch', name: 'no-such-branch' } },
    ]);
    const events = await turn(created.id, 'unclonable', ['ls /workspace; echo END']);
    const errors = events.filter((event) => event.type === 'session.error').map((event) => (event as any).error);
    const byUrl = new Map(errors.map((error) => [error.repository_url, error]));
    assert.equal(byUrl.get(url)?.type, 'repository_authentication_error', JSON.stringify(errors));
    assert.equal(byUrl.get(git.repoUrl('missing'))?.type, 'repository_not_found_error', JSON.stringify(errors));
    assert.ok(errors.some((error) => error.type === 'repository_checkout_error'), JSON.stringify(errors));
    for (const error of errors) assert.deepEqual(error.retry_status, { type: 'retrying' });
    const [ls] = outputs(events);
    assert.equal(ls!.isError, false);
    assert.match(ls!.text, /END$/);
    assert.ok(!JSON.stringify(await listAll(oma.client, created.id)).includes(token));
  });
});
