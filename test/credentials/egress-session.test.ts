import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SPAN } from '../../src/brain/history.ts';
import { allowedHosts } from '../../src/brain/recipe.ts';
import { openSandboxProvider, type SandboxPool } from '../../src/sandbox/index.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, TOOLSET, userText, waitForIdle } from '../brain/support.ts';

/**
 * Sandbox egress by the environment's networking, end to end: the sandbox has no interface but
 * loopback; its egress proxy (a unix socket on the host) lets through what the environment allows
 * and refuses, and records, everything else. This server opens `unrestricted` to public hosts
 * (`OMA_UNRESTRICTED_NETWORKING=public`); with the default (none) such sandboxes have no network,
 * which the must-not suite proves (SEC-3).
 */
const skip = bwrapMissing();

describe('sandbox egress', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-egress-'));
  const scripts = new CaseScripts();
  let oma: TestOma;
  let pool: SandboxPool;
  let web: Server;
  let port: number;
  let agentId: string;

  before(async () => {
    web = createServer((request, response) => response.end(`hello from the host web server, ${request.url}\n`));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.2', resolve));
    port = (web.address() as AddressInfo).port;
    pool = openSandboxProvider('bubblewrap', { root, limits: { memoryBytes: 256 * 1024 * 1024, pids: 128, cpus: 1, diskBytes: 0 }, idleMs: 60_000 });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool, config: { brain: { unrestrictedNetworking: 'public' } } });
    agentId = (await oma.client.beta.agents.create({ name: 'egress agent', model: 'claude-sonnet-4-6', tools: [TOOLSET] as never })).id;
  });
  after(async () => {
    await oma?.dispose();
    await pool?.close();
    web?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const bash = (command: string) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command } }] });
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

  async function probe(networking: Record<string, unknown>, name: string, commands: string[]) {
    const environment = await oma.client.beta.environments.create({ name, config: { type: 'cloud', networking } as never });
    const session = await oma.client.beta.sessions.create({ agent: agentId, environment_id: environment.id });
    scripts.add(name, [...commands.map(bash), text('Done.')]);
    await oma.client.beta.sessions.events.send(session.id, { events: [userText(`[${name}] go`)] });
    const events = await waitForIdle(oma.client, session.id, { timeoutMs: 60_000 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    const outputs = events.filter((event) => event.type === 'agent.tool_result').map((event: any) => event.content[0].text as string);
    const refusals = (await oma.sessionLog.read(session.id)).filter((event) => event.type === SPAN && event.payload.name === 'egress.refused').map((event) => event.payload);
    return { outputs, refusals };
  }

  it('[EGRESS-1] limited: only allowed_hosts get through the proxy; everything else is refused and logged', async () => {
    const { outputs, refusals } = await probe({ type: 'limited', allowed_hosts: ['127.0.0.2'], allow_package_managers: false, allow_mcp_servers: false }, 'limited', [
      `curl -sS -m 10 http://127.0.0.2:${port}/allowed; echo "status $?"`,
      `curl -sS -m 10 http://127.0.0.3:${port}/not-listed; echo "status $?"`,
      'curl -sS -m 10 https://example.com/ -o /dev/null; echo "status $?"',
      `(exec 3<>/dev/tcp/127.0.0.2/${port}) 2>&1; echo "direct $?"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`,
    ]);
    const [allowed, notListed, https, direct] = outputs;
    assert.match(allowed!, /hello from the host web server, \/allowed\nstatus 0/, allowed);
    assert.match(notListed!, /not in the allowed hosts/, notListed);
    assert.match(https!, /status [1-9]/, https);
    assert.match(direct!, /Connection refused\ndirect 1\nlo$/, 'no route but through the proxy; loopback is the only interface');
    const hosts = refusals.map((refusal) => `${refusal.host}:${refusal.port}`);
    assert.ok(hosts.includes(`127.0.0.3:${port}`) && hosts.includes('example.com:443'), `refusals logged: ${hosts.join(', ')}`);
  });

  it('[EGRESS-1] unrestricted (opened to public hosts): private and loopback addresses stay refused', async () => {
    const { outputs, refusals } = await probe({ type: 'unrestricted' }, 'unrestricted', [
      `curl -sS -m 10 http://127.0.0.2:${port}/private; echo "status $?"`,
      'curl -sS -m 10 http://169.254.169.254/latest/meta-data/; echo "status $?"',
    ]);
    assert.match(outputs[0]!, /private or local address/, outputs[0]);
    assert.match(outputs[1]!, /private or local address/, outputs[1]);
    assert.equal(refusals.length, 2);
  });

  it('[EGRESS-1] the allowlist: limited adds registries and the MCP servers (their own port only); unrestricted follows the operator', () => {
    const agent = { mcp_servers: [{ url: 'http://10.0.0.5/mcp' }, { url: 'https://mcp.example.com/v1' }, { url: 'http://[::1]:8123/mcp' }] };
    const limited = (extra: object) => ({ type: 'cloud' as const, networking: { type: 'limited' as const, allowed_hosts: ['api.example.com'], allow_package_managers: false, allow_mcp_servers: false, ...extra } });
    assert.deepEqual(allowedHosts(limited({}), { agent } as never, 'none'), ['api.example.com']);
    assert.deepEqual(allowedHosts(limited({ allow_mcp_servers: true }), { agent } as never, 'none'), ['api.example.com', '10.0.0.5:80', 'mcp.example.com:443', '[::1]:8123']);
    assert.ok(allowedHosts(limited({ allow_package_managers: true }), { agent } as never, 'none').includes('pypi.org'));
    assert.deepEqual(allowedHosts({ type: 'cloud', networking: { type: 'unrestricted' } }, { agent } as never, 'none'), []);
    assert.deepEqual(allowedHosts({ type: 'cloud', networking: { type: 'unrestricted' } }, { agent } as never, 'public'), ['*']);
  });

  it('[EGRESS-1] limited with no hosts: no proxy, no network at all', async () => {
    const { outputs } = await probe({ type: 'limited', allowed_hosts: [], allow_package_managers: false, allow_mcp_servers: false }, 'closed', [
      `echo "proxy: \${HTTP_PROXY:-none}"; ls /run/oma 2>&1; curl -sS -m 5 http://127.0.0.2:${port}/ 2>&1; echo "status $?"`,
    ]);
    assert.match(outputs[0]!, /^proxy: none\n/);
    assert.match(outputs[0]!, /No such file or directory/);
    assert.match(outputs[0]!, /status 7$/);
  });
});
