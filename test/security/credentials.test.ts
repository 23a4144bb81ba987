import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sandboxUid } from '../../src/sandbox/bubblewrap.ts';
import { openSandboxProvider, type SandboxPool } from '../../src/sandbox/index.ts';
import { freshPgliteDir } from '../../src/testing/databases.ts';
import { startGitServer } from '../../src/testing/git-server.ts';
import { startMcpServer, type TestMcpServer } from '../../src/testing/mcp-server.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { parseMasterKey } from '../../src/vaults/master-key.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, listAll, TOOLSET, userText, waitForIdle } from '../brain/support.ts';
import { canary, CANARY_PREFIX, processesOf } from './support.ts';

/**
 * The must-not suite, extended to credentials: canaries in every credential kind (an MCP OAuth
 * credential with its refresh token and client secret, a static bearer, an environment variable, a
 * repository token) and the master key. After a session that cloned, pushed and called an MCP tool
 * with them, and then went looking for them, none appears in the sandbox (files, environment,
 * processes, git config, tool output), in any event, in what the model was sent, or in any API answer.
 */
const skip = bwrapMissing();
const MiB = 1024 * 1024;

describe('must-not: credentials never reach the sandbox, the model or the API', { skip }, () => {
  const canaries = {
    gitToken: canary('git-token'),
    refreshClientSecret: canary('client-secret'),
    staticBearer: canary('static-bearer'),
    environmentValue: canary('env-credential'),
    rotatedGitToken: canary('git-token-rotated'),
  };
  const scripts = new CaseScripts();
  const found: string[] = [];
  let secrets: string[];
  let git: Awaited<ReturnType<typeof startGitServer>>;
  let mcp: TestMcpServer;
  let oma: TestOma;
  let pool: SandboxPool;
  let dataDir: string;
  let sessionId: string;
  let vaultId: string;
  let outputs: string[] = [];
  let requestsJson = '';

  before(async () => {
    git = await startGitServer({ token: canaries.gitToken });
    mcp = await startMcpServer({ clientId: 'oma', clientSecret: canaries.refreshClientSecret, tokenAuth: 'client_secret_basic' });
    const tokens = mcp.issueTokens();
    dataDir = await freshPgliteDir();
    pool = openSandboxProvider('bubblewrap', { root: join(dataDir, 'workspaces'), limits: { memoryBytes: 512 * MiB, pids: 256, cpus: 1, fileBytes: 256 * MiB, tmpBytes: 64 * MiB, diskBytes: 0 }, idleMs: 10 * 60_000 });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool, config: { dataDir } });
    const masterKey = parseMasterKey(readFileSync(join(dataDir, 'master.key'), 'utf8'))!;
    secrets = [...Object.values(canaries), tokens.access_token, tokens.refresh_token, masterKey.toString('base64'), masterKey.toString('hex'), masterKey.toString('base64url')];
    const { client } = oma;
    const vault = await client.beta.vaults.create({ display_name: 'canaries' });
    vaultId = vault.id;
    await client.beta.vaults.credentials.create(vault.id, {
      auth: {
        type: 'mcp_oauth',
        mcp_server_url: mcp.url,
        access_token: tokens.access_token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        refresh: { refresh_token: tokens.refresh_token, client_id: 'oma', token_endpoint: mcp.tokenEndpoint, token_endpoint_auth: { type: 'client_secret_basic', client_secret: canaries.refreshClientSecret } },
      },
    } as never);
    await client.beta.vaults.credentials.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: `${mcp.url}/other`, token: canaries.staticBearer } } as never);
    await client.beta.vaults.credentials.create(vault.id, { auth: { type: 'environment_variable', secret_name: 'DEPLOY_TOKEN', secret_value: canaries.environmentValue, networking: { type: 'unrestricted' } } } as never);
    const repository = await git.createRepo('canary-repo', { 'README.md': 'repo\n' });
    const agent = await client.beta.agents.create({
      name: 'credential prober',
      model: 'claude-sonnet-4-6',
      tools: [TOOLSET, { type: 'mcp_toolset', mcp_server_name: 'tools', default_config: { permission_policy: { type: 'always_allow' } } }],
      mcp_servers: [{ type: 'url', name: 'tools', url: mcp.url }],
    } as never);
    const environment = await client.beta.environments.create({ name: 'credential probes' });
    const session = await client.beta.sessions.create({
      agent: agent.id,
      environment_id: environment.id,
      vault_ids: [vault.id],
      resources: [{ type: 'github_repository', url: repository, authorization_token: canaries.gitToken, mount_path: '/workspace/repo' }],
    } as never);
    sessionId = session.id;
    const [resource] = (await client.beta.sessions.resources.list(session.id)).data as { id: string }[];
    const bash = (command: string) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command, timeout_ms: 60_000 } }] });
    const probes = [
      'cd /workspace/repo && echo x >> README.md && git commit -qam probe && git push -q origin HEAD:main 2>&1; echo "push $?"',
      `env; echo ---; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done`,
      'ps auxww 2>&1 || ls /proc; cat /etc/gitconfig; git -C /workspace/repo config --list --show-origin; ls -la /run/oma',
      `grep -rIl ${'OMA[C]ANARY'} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr 2>/dev/null; echo "grep done"`,
      `curl -sv "http://127.0.0.1:3129/${resource!.id}/info/refs?service=git-upload-pack" -o /tmp/refs 2>&1 | grep -iv '^\\* ' ; wc -c < /tmp/refs`,
      'git -C /workspace/repo fetch -v origin 2>&1; GIT_TRACE=1 GIT_CURL_VERBOSE=1 git -C /workspace/repo ls-remote origin 2>&1 | tail -40',
    ];
    const { requests } = scripts.add('canaries', [...probes.map(bash), { content: [{ type: 'tool_use', name: 'echo', input: { text: 'mcp works' } }] }, { content: [{ type: 'text', text: 'Done.' }] }]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[canaries] look for secrets')] });
    const events = await waitForIdle(client, session.id, { timeoutMs: 120_000 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    outputs = events.filter((event) => event.type === 'agent.tool_result' || event.type === 'agent.mcp_tool_result').map((event: any) => event.content.map((block: { text?: string }) => block.text ?? '').join(''));
    requestsJson = JSON.stringify(requests);
    // The host's view of the sandbox's processes (the socat bridges among them), while it lives.
    found.push(...processesOf(sandboxUid(session.id)));
  });

  after(async () => {
    await oma?.dispose();
    await pool?.close();
    await git?.close();
    await mcp?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  function assertClean(text: string, what: string) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${what} holds a secret`);
    assert.ok(!text.includes(CANARY_PREFIX), `${what} holds a canary`);
  }

  it('[SEC-10] the session did its work with the credentials: pushed through the proxy, called the MCP tool', () => {
    assert.match(outputs[0]!, /push 0$/, outputs[0]);
    assert.equal(outputs.at(-1), 'mcp works');
    assert.match(outputs[3]!, /^grep done$/m);
  });

  it('[SEC-10] no canary in tool output: environment, /proc, processes, git config, the proxy\'s answers, git traces, a search of the filesystem', () => {
    outputs.forEach((output, index) => assertClean(output, `tool result ${index + 1}`));
    assert.doesNotMatch(outputs[4]!, /authorization/i, 'the proxy answers with no credential header');
  });

  it('[SEC-10] no canary in the sandbox\'s processes as the host sees them', () => {
    assert.ok(found.length > 0, 'the sandbox was running');
    assertClean(found.join('\n'), 'process listing');
  });

  it('[SEC-10] no canary in any event (events.list and the raw table) nor in any model request', async () => {
    assertClean(JSON.stringify(await listAll(oma.client, sessionId)), 'events.list');
    const { rows } = await oma.db.query<{ text: string }>('SELECT payload::text AS text FROM events');
    assertClean(rows.map((row) => row.text).join('\n'), 'events table');
    assertClean(requestsJson, 'model requests');
  });

  it('[SEC-10] the API never returns a secret: vaults, credentials, sessions, resources, and after a rotation', async () => {
    const { client } = oma;
    const [resource] = (await client.beta.sessions.resources.list(sessionId)).data as { id: string }[];
    const rotated = await client.beta.sessions.resources.update(resource!.id, { session_id: sessionId, authorization_token: canaries.rotatedGitToken } as never);
    const answers = [
      rotated,
      await client.beta.vaults.retrieve(vaultId),
      await client.beta.vaults.list(),
      await client.beta.vaults.credentials.list(vaultId),
      ...(await Promise.all((await client.beta.vaults.credentials.list(vaultId)).data.map((credential) => client.beta.vaults.credentials.retrieve(credential.id, { vault_id: vaultId })))),
      await client.beta.sessions.retrieve(sessionId),
      await client.beta.sessions.resources.list(sessionId),
      await client.beta.sessions.resources.retrieve(resource!.id, { session_id: sessionId }),
    ];
    assertClean(JSON.stringify(answers), 'API answers');
    // And at rest: the database holds them sealed only.
    const tables = await oma.db.query<{ text: string }>("SELECT (SELECT string_agg(t::text, '\n') FROM vault_credentials t) || (SELECT string_agg(r::text, '\n') FROM session_resources r) AS text");
    assertClean(tables.rows[0]!.text, 'vault_credentials and session_resources rows');
  });
});
