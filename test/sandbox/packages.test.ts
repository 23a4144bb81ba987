import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BubblewrapProvider } from '../../src/sandbox/bubblewrap.ts';
import { ProcessProvider } from '../../src/sandbox/process.ts';
import { installScript, packagesEnv, packagesKey, type PackageSettings } from '../../src/sandbox/packages.ts';
import { openSandboxProvider, type SandboxPool } from '../../src/sandbox/index.ts';
import { startFakeNpmRegistry, type FakeNpmRegistry } from '../../src/testing/npm-registry.ts';
import { startFakePypi } from '../../src/testing/pypi-index.ts';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, userText, waitForIdle } from '../brain/support.ts';

const MiB = 1024 * 1024;
const LIMITS = { memoryBytes: 512 * MiB, pids: 256, cpus: 1, fileBytes: 64 * MiB, tmpBytes: 16 * MiB, diskBytes: 64 * MiB };
const CANARY = 'oma-canary-packages-7f3a9c';

describe('package sets', () => {
  it('[HANDS-11] one cache entry per set: order and duplicates do not matter, the managers do', () => {
    assert.equal(packagesKey({ npm: ['b', 'a', 'a'] }), packagesKey({ npm: ['a', 'b'], pip: [] }));
    assert.notEqual(packagesKey({ npm: ['a'] }), packagesKey({ pip: ['a'] }));
    assert.notEqual(packagesKey({ npm: ['a'] }), packagesKey({ npm: ['a@2'] }));
  });

  it('[HANDS-11] managers run in alphabetical order; every spec is one quoted argument', () => {
    const script = installScript({ pip: ['pandas==2.2.0'], npm: ["left'pad"], apt: ['jq'] }, '/opt/oma/packages');
    const order = ['apt', 'npm', 'pip'].map((manager) => script.indexOf(`installing ${manager} packages`));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.ok(order.every((at) => at >= 0));
    assert.match(script, /npm install --global --prefix "\$P\/npm" .* 'left'\\''pad'/);
    assert.match(script, /pip install .* --target "\$P\/pip" 'pandas==2\.2\.0'/);
  });

  it('[HANDS-11] the sandbox finds what was installed: PATH first, then the managers\' own search paths', () => {
    const env = packagesEnv({ npm: ['x'], pip: ['y'] }, '/opt/oma/packages');
    assert.equal(env.PATH, '/opt/oma/packages/npm/bin:/opt/oma/packages/pip/bin:/usr/local/bin:/usr/bin:/bin');
    assert.equal(env.NODE_PATH, '/opt/oma/packages/npm/lib/node_modules');
    assert.equal(env.PYTHONPATH, '/opt/oma/packages/pip');
    assert.deepEqual(packagesEnv({}, '/p'), {});
  });

  it('[HANDS-11] the process provider refuses packages, saying so', async () => {
    const root = mkdtempSync(join(tmpdir(), 'oma-proc-pkg-'));
    try {
      await assert.rejects(new ProcessProvider({ root }).provision({ sessionId: 's', workspaceId: 'w', environmentId: 'e', packages: { npm: ['x'] } }), /does not install an environment's packages/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('packages in bubblewrap sandboxes', { skip: bwrapMissing() }, () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-pkg-'));
  let registry: FakeNpmRegistry;
  let settings: PackageSettings;
  let provider: BubblewrapProvider;
  before(async () => {
    registry = await startFakeNpmRegistry([
      {
        name: 'oma-hello',
        version: '1.0.0',
        bin: { 'oma-hello': 'bin.js' },
        // The install script runs registry code: it records what it could see and reach.
        scripts: { postinstall: 'node probe.js' },
        files: {
          'bin.js': '#!/usr/bin/env node\nconsole.log("hello from a package");\n',
          'index.js': 'module.exports = 42;\n',
          // Through the proxy to the host's PostgreSQL (refused: not a registry), and straight to it (no network).
          'probe.js': `const fs = require('fs'), http = require('http'), net = require('net');
let host = 'unreadable'; try { host = fs.readFileSync('/etc/hostname', 'utf8'); } catch {}
const viaProxy = new Promise((resolve) => http.get({ host: '127.0.0.1', port: 3128, path: 'http://127.0.0.1:5432/' }, (res) => resolve(res.statusCode)).on('error', (e) => resolve(e.code)));
const direct = new Promise((resolve) => net.connect(5432, '127.0.0.1').on('connect', () => resolve('connected')).on('error', (e) => resolve(e.code)));
Promise.all([viaProxy, direct]).then(([proxied, straight]) => fs.writeFileSync('probe.json', JSON.stringify({ env: process.env, uid: process.getuid(), root: fs.readdirSync('/'), host, proxied, straight })));
`,
        },
      },
    ]);
    settings = { dir: join(root, 'packages'), timeoutMs: 120_000, allowedHosts: [new URL(registry.url).host], env: { npm_config_registry: registry.url } };
    provider = new BubblewrapProvider({ root: join(root, 'workspaces'), limits: LIMITS, packages: settings });
    process.env.OMA_TEST_CANARY = CANARY; // oma's own environment: never the installer's
  });
  after(async () => {
    delete process.env.OMA_TEST_CANARY;
    await registry?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('[HANDS-11] installed once into the cache through the egress proxy, read-only and on PATH in the sandbox; another session reuses the entry', async () => {
    const first = await provider.provision({ sessionId: 'sesn_pkg_a', workspaceId: 'w', environmentId: 'e', packages: { npm: ['oma-hello'] } });
    try {
      const output = await first.execute('bash', { command: 'oma-hello; node -e "console.log(require(\'oma-hello\'))"; touch /opt/oma/packages/x 2>&1 | grep -o "Read-only file system"' });
      assert.deepEqual(output.trim().split('\n'), ['hello from a package', '42', 'Read-only file system']);
    } finally {
      await first.dispose();
    }
    const fetched = registry.requests.filter((path) => path.endsWith('.tgz')).length;
    assert.equal(fetched, 1);
    const second = await provider.provision({ sessionId: 'sesn_pkg_b', workspaceId: 'w', environmentId: 'e2', packages: { npm: ['oma-hello', 'oma-hello'] } });
    try {
      assert.equal((await second.execute('bash', { command: 'oma-hello' })).trim(), 'hello from a package');
    } finally {
      await second.dispose();
    }
    assert.equal(registry.requests.filter((path) => path.endsWith('.tgz')).length, fetched, 'the second session used the cache');
    const entries = readdirSync(settings.dir);
    assert.equal(entries.length, 1, `one entry, no partial left: ${entries.join(', ')}`);
    assert.equal(readdirSync(join(root, 'workspaces')).filter((name) => name.startsWith('pkg_')).length, 0, "the installer's scratch space is gone");
  });

  it('[HANDS-11] the install ran sandboxed: no oma environment, not root, no host view, network only through the proxy', () => {
    const [entry] = readdirSync(settings.dir);
    const probe = JSON.parse(readFileSync(join(settings.dir, entry!, 'npm/lib/node_modules/oma-hello/probe.json'), 'utf8')) as { env: Record<string, string>; uid: number; root: string[]; host: string; proxied: unknown; straight: unknown };
    assert.equal(probe.proxied, 403, "the proxy refuses the host's own services");
    assert.equal(probe.straight, 'ECONNREFUSED', 'no network of its own');
    assert.ok(!JSON.stringify(probe).includes(CANARY), 'no canary from oma\'s environment');
    assert.equal(probe.env.HTTP_PROXY, 'http://127.0.0.1:3128');
    assert.equal(probe.host, 'unreadable', 'no host /etc');
    assert.ok(!probe.root.includes('root') && !probe.root.includes('home'), `the sandbox's root: ${probe.root.join(' ')}`);
    if (process.getuid?.() === 0) assert.notEqual(probe.uid, 0);
  });

  it('[HANDS-11] managers combine: npm and pip packages of one environment, each found by its own runtime', async () => {
    const pypi = await startFakePypi([{ name: 'oma-hi', version: '1.0.0', greeting: 'hi from pip' }]);
    try {
      const both = new BubblewrapProvider({
        root: join(root, 'workspaces'),
        limits: LIMITS,
        packages: { ...settings, allowedHosts: [...settings.allowedHosts, new URL(pypi.url).host], env: { ...settings.env, PIP_INDEX_URL: pypi.url } },
      });
      const box = await both.provision({ sessionId: 'sesn_pkg_e', workspaceId: 'w', environmentId: 'e', packages: { pip: ['oma-hi==1.0.0'], npm: ['oma-hello'] } });
      try {
        const output = await box.execute('bash', { command: 'oma-hi; python3 -c "import oma_hi; print(oma_hi.GREETING)"; oma-hello' });
        assert.deepEqual(output.trim().split('\n'), ['hi from pip', 'hi from pip', 'hello from a package']);
      } finally {
        await box.dispose();
      }
    } finally {
      await pypi.close();
    }
  });

  it('[HANDS-11] a package that cannot be installed fails the provision with the manager\'s reason; nothing is cached', async () => {
    const before = readdirSync(settings.dir).length;
    await assert.rejects(provider.provision({ sessionId: 'sesn_pkg_c', workspaceId: 'w', environmentId: 'e', packages: { npm: ['oma-no-such-package'] } }), (error: Error) => {
      assert.match(error.message, /installing the environment's packages failed/);
      assert.match(error.message, /404|Not found/i);
      return true;
    });
    assert.equal(readdirSync(settings.dir).length, before);
  });

  it('[HANDS-11] a registry the installer may not reach is refused by the proxy, and the error says which host', async () => {
    const blocked = new BubblewrapProvider({ root: join(root, 'workspaces'), limits: LIMITS, packages: { ...settings, allowedHosts: [] } });
    await assert.rejects(blocked.provision({ sessionId: 'sesn_pkg_d', workspaceId: 'w', environmentId: 'e', packages: { npm: ['oma-hello@1.0.0'] } }), (error: Error) => {
      assert.match(error.message, new RegExp(`proxy refused: ${new URL(registry.url).host.replace('.', '\\.')}`));
      return true;
    });
  });
});

describe('packages through the API', { skip: bwrapMissing() }, () => {
  const root = mkdtempSync(join(tmpdir(), 'oma-pkg-api-'));
  const scripts = new CaseScripts();
  let registry: FakeNpmRegistry;
  let pool: SandboxPool;
  let oma: TestOma;
  before(async () => {
    registry = await startFakeNpmRegistry([{ name: 'oma-greet', version: '2.1.0', bin: { 'oma-greet': 'bin.js' }, files: { 'bin.js': '#!/usr/bin/env node\nconsole.log("greetings, v2.1.0");\n' } }]);
    pool = openSandboxProvider('bubblewrap', {
      root: join(root, 'workspaces'),
      limits: LIMITS,
      idleMs: 60_000,
      packages: { dir: join(root, 'packages'), timeoutMs: 120_000, allowedHosts: [new URL(registry.url).host], env: { npm_config_registry: registry.url } },
    });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool });
  });
  after(async () => {
    await oma?.dispose();
    await pool?.close();
    await registry?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("[HANDS-11] an environment's packages are there on the session's first tool call; a failing set is a tool error and the turn ends idle", async () => {
    const greet = () => [{ content: [{ type: 'tool_use' as const, name: 'bash', input: { command: 'oma-greet' } }] }, { content: [{ type: 'text' as const, text: 'Done.' }] }];
    scripts.add('pkg-ok', greet());
    scripts.add('pkg-bad', greet());
    const agent = await oma.client.beta.agents.create({ name: 'pkg', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
    const results = async (tag: string, packages: { npm: string[] }) => {
      const environment = await oma.client.beta.environments.create({ name: `pkg ${packages.npm.join(' ')}`, config: { type: 'cloud', packages } });
      const session = await oma.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      await oma.client.beta.sessions.events.send(session.id, { events: [userText(`[${tag}] greet`)] });
      const events = await waitForIdle(oma.client, session.id);
      return events.filter((event) => event.type === 'agent.tool_result').map((event) => [event.is_error, (event.content as { text: string }[])[0]!.text]);
    };
    assert.deepEqual(await results('pkg-ok', { npm: ['oma-greet'] }), [[false, 'greetings, v2.1.0']]);
    const [[isError, text]] = (await results('pkg-bad', { npm: ['oma-greet@9.9.9'] })) as [[boolean, string]];
    assert.equal(isError, true);
    assert.match(text, /^Error: the sandbox could not be started: installing the environment's packages failed/);
  });

  it('[HANDS-11] the packages install while the model answers a turn that uses no tool; still no sandbox is provisioned', async () => {
    scripts.add('pkg-early', [{ content: [{ type: 'text', text: 'No tools needed.' }] }]);
    const agent = await oma.client.beta.agents.create({ name: 'early', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
    const environment = await oma.client.beta.environments.create({ name: 'early', config: { type: 'cloud', packages: { npm: ['oma-greet@2.1.0'] } } });
    const session = await oma.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
    const before = readdirSync(join(root, 'packages')).filter((name) => !name.startsWith('.')).length;
    await oma.client.beta.sessions.events.send(session.id, { events: [userText('[pkg-early] hello')] });
    await waitForIdle(oma.client, session.id);
    for (const deadline = Date.now() + 60_000; readdirSync(join(root, 'packages')).filter((name) => !name.startsWith('.')).length === before; ) {
      assert.ok(Date.now() < deadline, 'the package set was installed in the background');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(!pool.sessions().includes(session.id), 'no sandbox for a turn without tools');
  });
});
