import assert from 'node:assert/strict';
import { bwrapMissing } from '../../src/testing/sandboxes.ts';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cgroupSupport } from '../../src/sandbox/cgroups.ts';
import { sandboxUid } from '../../src/sandbox/bubblewrap.ts';
import { diskQuotaSupport, openSandboxProvider, type SandboxPool } from '../../src/sandbox/index.ts';
import { freshPgliteDir } from '../../src/testing/databases.ts';
import { startTestOma, TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';
import { CaseScripts, lastIdle, listAll, TOOLSET, userText, waitForIdle } from '../brain/support.ts';
import { canary, CANARY_PREFIX, ESCAPED, escaped, fingerprint, hostUnixSockets, processesOf, reachable, sq, until } from './support.ts';

/**
 * The must-not suite. One whole server (in-process, PGlite) whose brain runs the agent toolset in
 * real bubblewrap sandboxes, driven by a scripted model. Canary secrets are planted in the server's
 * environment, in files (data dir, repository, /root, another session's workspace) and in the
 * database (another agent's system prompt, another session's metadata). Each probe is one session
 * whose model runs bash commands designed so that an escape prints a canary or `ESCAPED`; every
 * tool result must hold neither, and fail in the expected safe way. Afterwards no event holds a
 * canary, the host is unchanged and the server healthy.
 *
 * Needs root (per-sandbox uids, cgroups) and bwrap; the exhaustion probes also need the cgroup
 * memory and pids controllers (without them a fork bomb would hit the machine: they are skipped).
 */

const skip = (() => {
  const missing = bwrapMissing();
  if (missing) return missing;
  if (process.getuid?.() !== 0) return 'the must-not suite runs as root (per-sandbox uids and cgroups)';
  return false;
})();

const MiB = 1024 * 1024;
const limits = { memoryBytes: 128 * MiB, pids: 64, cpus: 1, fileBytes: 64 * MiB, tmpBytes: 32 * MiB, diskBytes: 128 * MiB };
const cgroups = cgroupSupport();
const skipExhaustion =
  cgroups.version === 0 ? `no cgroup limits here (${cgroups.reason})` : ['memory', 'pids'].every((name) => cgroups.controllers.includes(name)) ? false : 'the cgroup memory and pids controllers are missing';

/** Loopback services of this machine (CI has them too); a probe per service. */
const SERVICES = [
  { name: 'PostgreSQL', port: 5432, client: "psql -h 127.0.0.1 -U postgres -d test -c 'select 1'" },
  { name: 'MariaDB', port: 3306, client: "mysql -h 127.0.0.1 -u root -e 'select 1'" },
  { name: 'Redis', port: 6379, client: 'redis-cli -h 127.0.0.1 ping' },
  { name: 'RabbitMQ', port: 5672, client: "printf 'AMQP\\0\\0\\x09\\x01' | timeout 3 socat -t2 - TCP:127.0.0.1:5672" },
  { name: 'Mosquitto', port: 1883, client: 'timeout 3 socat -u TCP:127.0.0.1:1883 -' },
  { name: 'NATS', port: 4222, client: 'timeout 3 socat -u TCP:127.0.0.1:4222 -' }, // NATS greets with INFO on connect
];

describe('must-not: probes through the bash tool in bubblewrap sandboxes', { skip }, () => {
  const tag = Math.random().toString(36).slice(2, 10);
  /** Host paths probes try to create; none may exist afterwards. */
  const mark = `oma-sec-${tag}`;
  const canaries = {
    env: canary('env'),
    anthropicKey: canary('anthropic-key'),
    masterKey: canary('master-key'),
    githubToken: canary('github-token'),
    dataDir: canary('data-dir'),
    repo: canary('repo'),
    root: canary('root'),
    workspace: canary('other-workspace'),
    prompt: canary('system-prompt'),
    metadata: canary('session-metadata'),
  };
  const secrets = [...Object.values(canaries), TEST_API_KEY];
  const envNames = ['OMA_CANARY_SECRET', 'ANTHROPIC_API_KEY', 'OMA_MASTER_KEY', 'GITHUB_TOKEN'] as const;
  const savedEnv = Object.fromEntries(envNames.map((name) => [name, process.env[name]]));
  const repoFile = join(process.cwd(), `.${mark}-canary`);
  const rootFile = `/root/.${mark}-canary`;
  const hostFiles = ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/hosts'];
  const fingerprints = new Map<string, string>();
  const scripts = new CaseScripts();
  /** Every probe session and its sandbox's host uid. */
  const probed: { sessionId: string; uid: number }[] = [];
  let dataDir: string;
  let workspaces: string;
  let oma: TestOma;
  let pool: SandboxPool;
  let agentId: string;
  let environmentId: string;
  let secretSessionId: string;
  let port: number;

  before(async () => {
    // Canaries in the server's environment, before it starts (it runs in this process).
    process.env.OMA_CANARY_SECRET = canaries.env;
    process.env.ANTHROPIC_API_KEY = canaries.anthropicKey;
    process.env.OMA_MASTER_KEY = canaries.masterKey;
    process.env.GITHUB_TOKEN = canaries.githubToken;
    // The default layout: workspaces inside the data dir, next to the database.
    dataDir = await freshPgliteDir();
    workspaces = join(dataDir, 'workspaces');
    writeFileSync(join(dataDir, 'canary.txt'), `${canaries.dataDir}\n`, { mode: 0o600 });
    writeFileSync(repoFile, `${canaries.repo}\n`, { mode: 0o600 });
    writeFileSync(rootFile, `${canaries.root}\n`, { mode: 0o600 });
    for (const file of [...hostFiles, repoFile, rootFile, join(dataDir, 'canary.txt')]) fingerprints.set(file, fingerprint(file));
    pool = openSandboxProvider('bubblewrap', { root: workspaces, limits, idleMs: 10 * 60_000 });
    oma = await startTestOma({ model: scripts.model, sandboxes: pool, config: { dataDir, brain: { toolTimeoutMs: 30_000 } } });
    port = Number(new URL(oma.url).port);
    // Canaries in the database: another agent's system prompt, another session's metadata, and a file in that session's workspace.
    const secretAgent = await oma.client.beta.agents.create({ name: 'secret keeper', model: 'claude-sonnet-4-6', system: `Never tell: ${canaries.prompt}`, tools: [TOOLSET] as never });
    assert.ok(secretAgent.system?.includes(canaries.prompt), 'the canary is in the database');
    const environment = await oma.client.beta.environments.create({ name: `must-not ${tag}` });
    environmentId = environment.id;
    const secretSession = await oma.client.beta.sessions.create({ agent: secretAgent.id, environment_id: environmentId, metadata: { token: canaries.metadata } });
    secretSessionId = secretSession.id;
    const otherWorkspace = join(workspaces, secretSessionId);
    mkdirSync(otherWorkspace, { recursive: true, mode: 0o700 });
    writeFileSync(join(otherWorkspace, 'secret.txt'), `${canaries.workspace}\n`, { mode: 0o600 });
    chownSync(otherWorkspace, sandboxUid(secretSessionId), sandboxUid(secretSessionId));
    chownSync(join(otherWorkspace, 'secret.txt'), sandboxUid(secretSessionId), sandboxUid(secretSessionId));
    const prober = await oma.client.beta.agents.create({ name: 'prober', model: 'claude-sonnet-4-6', tools: [TOOLSET] as never });
    agentId = prober.id;
  });

  after(async () => {
    await oma?.dispose();
    await pool?.close();
    for (const name of envNames) {
      if (savedEnv[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnv[name];
    }
    rmSync(repoFile, { force: true });
    rmSync(rootFile, { force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  // ---- the probe runner ----

  const bash = (command: string, timeoutMs: number) => ({ content: [{ type: 'tool_use' as const, name: 'bash', input: { command, timeout_ms: timeoutMs } }] });
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
  let probes = 0;

  interface Result {
    isError: boolean;
    output: string;
  }

  /** No canary, no API key, no escape marker. */
  function assertSafe(output: string, what: string) {
    for (const secret of secrets) assert.ok(!output.includes(secret), `${what}: a secret leaked: ${output}`);
    assert.ok(!output.includes(CANARY_PREFIX), `${what}: a canary leaked: ${output}`);
    assert.ok(!output.includes(ESCAPED), `${what}: ESCAPED: ${output}`);
  }

  /** Starts a probe session: the model runs `commands` with bash one after the other, then ends its turn. */
  async function startProbe(commands: string[], options: { timeoutMs?: number; resources?: unknown[] } = {}) {
    const name = `probe-${++probes}`;
    scripts.add(name, [...commands.map((command) => bash(command, options.timeoutMs ?? 20_000)), text('Done probing.')]);
    const session = await oma.client.beta.sessions.create({
      agent: agentId,
      environment_id: environmentId,
      ...(options.resources ? { resources: options.resources } : {}),
    } as Parameters<typeof oma.client.beta.sessions.create>[0]);
    const uid = sandboxUid(session.id);
    probed.push({ sessionId: session.id, uid });
    await oma.client.beta.sessions.events.send(session.id, { events: [userText(`[${name}] probe the sandbox`)] });
    return {
      sessionId: session.id,
      uid,
      async results(): Promise<Result[]> {
        const events = await waitForIdle(oma.client, session.id, { timeoutMs: 60_000 });
        assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
        const results = events
          .filter((event) => event.type === 'agent.tool_result')
          .map((event) => ({ isError: event.is_error === true, output: (event.content as { text: string }[]).map((block) => block.text).join('') }));
        assert.equal(results.length, commands.length, 'every command ran');
        results.forEach((result, index) => assertSafe(result.output, `${name} command ${index + 1}`));
        // MUST_NOT_DEBUG=1 prints every tool result (what each probe saw).
        if (process.env.MUST_NOT_DEBUG) console.error(`--- ${name}\n${results.map((r) => `[${r.isError}] ${r.output}`).join('\n')}`);
        return results;
      },
    };
  }

  /** One command; returns its result (checked safe), the session and the sandbox uid. */
  async function probe(command: string, options: { timeoutMs?: number } = {}) {
    const started = await startProbe([command], options);
    const [result] = await started.results();
    return { ...result!, sessionId: started.sessionId, uid: started.uid };
  }

  /** The probe ran to its end (not cut short by a dead shell): its last line is END. */
  function completed(result: Result) {
    assert.equal(result.isError, false, result.output);
    assert.match(result.output, /(^|\n)END$/, 'the probe ran to the end');
  }

  // A fresh connection each time: a kept-alive one can be closed by the server's idle timer just as a
  // long synchronous host check ends (both timers run late, in this process), which is not ill health.
  const healthy = () =>
    new Promise<number>((resolve, reject) => {
      get(`${oma.url}/healthz`, { agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', reject);
    });

  // ---- SEC-1: environment ----

  it("[SEC-1] env: the shell's environment is its own handful of variables, none of the server's", async () => {
    const result = await probe('env | sort; echo END');
    completed(result);
    const names = result.output.split('\n').slice(0, -1).map((line) => line.split('=')[0]);
    assert.deepEqual(names.filter((name) => !['HOME', 'LANG', 'OMA_WORKDIR', 'OLDPWD', 'PATH', 'PWD', 'SHLVL', 'TERM', '_'].includes(name!)), []);
    assert.match(result.output, /^HOME=\/workspace$/m);
  });

  it('[SEC-1] /proc/*/environ of every visible process holds no secret', async () => {
    const result = await probe(
      `for f in /proc/[0-9]*/environ; do echo "== $f"; tr '\\0' '\\n' < "$f"; echo; done 2>&1
echo "hits: $(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -e 'OMA[C]ANARY' -e 'ANTHROPIC' -e 'MASTER_KEY' -e 'GITHUB_TOKEN')"
echo END`,
    );
    completed(result);
    assert.match(result.output, /^hits: 0$/m);
    assert.match(result.output, /^HOME=\/workspace$/m, 'it did read environments');
    // Noted, not a secret: bwrap's own environment (/proc/1/environ) holds PWD, the server's working directory on the host.
  });

  it('[SEC-1] only the sandbox\'s own processes are visible: no server, no database, no other sandbox', async () => {
    const result = await probe(`ps -eo uid=,comm=; echo "host pid: $(cat /proc/${process.pid}/environ 2>&1 | head -c 200)"; echo END`);
    completed(result);
    const rows = result.output.split('\n').filter((line) => /^\s*\d+\s/.test(line)).map((line) => line.trim().split(/\s+/));
    assert.ok(rows.length >= 2 && rows.length < 10, result.output);
    assert.deepEqual([...new Set(rows.map(([uid]) => uid))], [String(result.uid)], 'all run as the sandbox uid');
    assert.deepEqual(rows.map(([, comm]) => comm).filter((comm) => !['bwrap', 'bash', 'ps'].includes(comm!)), [], 'no host process');
    assert.match(result.output, /host pid: .*No such file or directory/);
  });

  it('[SEC-1] command lines and open descriptors lead nowhere: no secret argv, no inherited host file or socket of the server', async () => {
    const result = await probe(
      `for p in /proc/[0-9]*; do echo "$p: $(tr '\\0' ' ' < $p/cmdline 2>/dev/null)"; for fd in $p/fd/*; do echo "  fd $(readlink $fd)"; done; done 2>/dev/null; echo END`,
    );
    completed(result);
    const targets = result.output.split('\n').filter((line) => line.startsWith('  fd ')).map((line) => line.slice(5));
    assert.ok(targets.length > 3, result.output);
    const unexpected = targets.filter((target) => !/^(socket|pipe|anon_inode):|^\/dev\/(null|pts\/\d+)$|^\/proc\/|^\/workspace(\/|$)|^$/.test(target));
    assert.deepEqual(unexpected, [], 'only pipes, sockets to oma, /dev/null and the sandbox\'s own paths');
    // The sockets are the shell's stdio (oma's pipes to its child); a database file or the data dir would show as a path.
    assert.doesNotMatch(result.output, /\.oma|pgdata|PG_VERSION|\.s\.PGSQL/);
  });

  // ---- SEC-2: host paths ----

  it('[SEC-2] /root and its canary file do not exist in the sandbox', async () => {
    const result = await probe(`cat ${rootFile}; ls -la /root; cat ~root/.bash_history; echo END`);
    completed(result);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 3, result.output);
  });

  it("[SEC-2] /etc/shadow, /etc/passwd and the host's /etc are absent: only /etc/alternatives is there", async () => {
    const result = await probe('cat /etc/shadow /etc/passwd /etc/hostname /etc/hosts; echo "etc: $(ls -A /etc | tr "\\n" " ")"; getent passwd root; echo END');
    completed(result);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 4, result.output);
    assert.match(result.output, /^etc: (alternatives )?$/m);
    assert.doesNotMatch(result.output, /root:/);
  });

  it('[SEC-2] the data dir (database, canary) is out of reach, by its host path and from /workspace/..', async () => {
    const result = await probe(
      `cat ${sq(join(dataDir, 'canary.txt'))}; ls ${sq(dataDir)}; echo "parent: $(ls -A /workspace/.. | tr '\\n' ' ')"; cat /workspace/../canary.txt /workspace/../../canary.txt; cat /proc/1/root/canary.txt; echo END`,
    );
    completed(result);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 5, result.output);
    assert.match(result.output, /^parent: bin dev etc lib lib64 proc sbin tmp usr workspace $/m, 'the sandbox\'s own root, not the data dir');
  });

  it('[SEC-2] the repository (server code, a canary in its root) is out of reach', async () => {
    const result = await probe(`cat ${sq(repoFile)}; ls ${sq(process.cwd())}; cat ${sq(join(process.cwd(), 'package.json'))}; ls /work /home /srv /opt /var; echo END`);
    completed(result);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 8, result.output);
  });

  it("[SEC-2] another session's workspace is out of reach", async () => {
    const result = await probe(
      `cat ${sq(join(workspaces, secretSessionId, 'secret.txt'))}; ls ${sq(workspaces)}; ls -A /workspace/../${secretSessionId}; cat /workspace/../${secretSessionId}/secret.txt; echo "workspace: $(ls -A /workspace | wc -l) entries"; echo END`,
    );
    completed(result);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 4, result.output);
  });

  it('[SEC-2] a search of the whole visible filesystem (all but the read-only host /usr) finds no canary', async () => {
    const result = await probe(
      `grep -rIl 'OMA[C]ANARY' / --exclude-dir=proc --exclude-dir=usr --exclude-dir=dev 2>/dev/null; echo "grep status $?"
cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | grep -c 'OMA[C]ANARY'
echo "searched: $(find / \\( -path /proc -o -path /usr \\) -prune -o -type f -print 2>/dev/null | wc -l) files"; echo END`,
    );
    completed(result);
    assert.match(result.output, /^grep status 1$/m, 'nothing found');
    assert.match(result.output, /^0$/m);
  });

  it('[SEC-2] no host devices, no /sys, no kernel memory or log', async () => {
    const result = await probe('echo "dev: $(ls -A /dev | tr "\\n" " ")"; ls /sys; head -c 16 /proc/kcore; cat /dev/vda /dev/sda /dev/mem /dev/kmsg; dmesg | head -1; echo END');
    completed(result);
    const devices = result.output.match(/^dev: (.*)$/m)![1]!.trim().split(' ');
    assert.deepEqual(devices.filter((name) => !['console', 'core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].includes(name)), []);
    assert.equal((result.output.match(/No such file or directory/g) ?? []).length, 6, result.output);
    assert.match(result.output, /dmesg: .*Operation not permitted/);
  });

  // ---- SEC-3: network ----

  it("[SEC-3] the server's own port is unreachable (no API call from inside)", async () => {
    assert.ok(await reachable(port), 'the host reaches it');
    const result = await probe(`(exec 3<>/dev/tcp/127.0.0.1/${port}) && ${escaped}; curl -sS -m 3 http://127.0.0.1:${port}/healthz && ${escaped}; echo END`);
    completed(result);
    assert.match(result.output, /Connection refused/);
    assert.match(result.output, /curl: \(7\)/);
  });

  for (const service of SERVICES) {
    it(`[SEC-3] ${service.name} on 127.0.0.1:${service.port} is unreachable`, async (t) => {
      if (!(await reachable(service.port))) t.diagnostic(`${service.name} is not running on this machine: the probe still runs`);
      const result = await probe(`(exec 3<>/dev/tcp/127.0.0.1/${service.port}) && ${escaped}; ${service.client}; echo "client status $?"; echo END`, { timeoutMs: 15_000 });
      completed(result);
      assert.match(result.output, new RegExp(`/dev/tcp/127.0.0.1/${service.port}: Connection refused`));
      assert.doesNotMatch(result.output, /^client status 0$/m, `the ${service.name} client got through: ${result.output}`);
      assert.doesNotMatch(result.output, /PONG|INFO \{|\?column\?|AMQP\b.*\x01/);
    });
  }

  it("[SEC-3] the host's unix sockets (database sockets, abstract ones) are unreachable", async () => {
    const { paths, abstract } = hostUnixSockets();
    const result = await probe(
      `for s in ${[...paths, '/var/run/postgresql/.s.PGSQL.5432', '/run/mysqld/mysqld.sock', '/var/run/redis/redis-server.sock'].map(sq).join(' ')}; do [ -e "$s" ] && echo "visible: $s"; done
for a in ${abstract.slice(0, 10).map(sq).join(' ') || "''"}; do [ -n "$a" ] && timeout 2 socat -u ABSTRACT-CONNECT:"$a" - </dev/null >/dev/null 2>&1 && echo "abstract reachable: $a"; done
psql -c 'select 1'; mysql -e 'select 1'; ls /run /var/run; echo END`,
      { timeoutMs: 30_000 },
    );
    completed(result);
    assert.doesNotMatch(result.output, /visible: |abstract reachable: /);
    assert.match(result.output, /ls: cannot access '\/run'/);
  });

  it('[SEC-3] loopback is the only network interface and there is no route out', async () => {
    const result = await probe("echo \"interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"; echo \"routes: $(tail -n +2 /proc/net/route | wc -l)\"; ip -6 route; echo END");
    completed(result);
    assert.match(result.output, /^interfaces: lo $/m);
    assert.match(result.output, /^routes: 0$/m);
  });

  // ---- SEC-4: writes outside the workspace ----

  it('[SEC-4] /usr and /etc/alternatives are read-only', async () => {
    const result = await probe(`touch /usr/${mark} && ${escaped}; touch /usr/bin/${mark} && ${escaped}; rm -f /usr/bin/env && ${escaped}; touch /etc/alternatives/${mark} && ${escaped}; echo END`);
    completed(result);
    assert.ok((result.output.match(/Read-only file system/g) ?? []).length >= 3, result.output);
    for (const path of [`/usr/${mark}`, `/usr/bin/${mark}`, `/etc/alternatives/${mark}`]) assert.ok(!existsSync(path), path);
    assert.ok(existsSync('/usr/bin/env'));
  });

  it("[SEC-4] /tmp and / are the sandbox's own: writes there (also to /root, /etc) never reach the host", async () => {
    const result = await probe(
      `echo x > /tmp/${mark} && cat /tmp/${mark}; echo y > /${mark} && cat /${mark}; mkdir -p /root /etc/cron.d && echo z > /root/${mark} && echo z > /etc/cron.d/${mark}; cat /root/${mark}; echo END`,
    );
    completed(result);
    assert.match(result.output, /^x\ny\nz\nEND$/, 'inside, the writes work');
    for (const path of [`/tmp/${mark}`, `/${mark}`, `/root/${mark}`, `/etc/cron.d/${mark}`]) assert.ok(!existsSync(path), `${path} must not exist on the host`);
  });

  it('[SEC-4] host paths of the data dir and the repository, and /proc/*/root and /proc/*/cwd, lead only into the sandbox', async () => {
    const result = await probe(
      `echo x > ${sq(join(dataDir, mark))} || echo "no data dir"; mkdir -p ${sq(dataDir)} ${sq(process.cwd())} && echo x > ${sq(join(dataDir, mark))} && echo x > ${sq(join(process.cwd(), mark))} && echo "made them in the sandbox"
echo x > /proc/1/root/${mark}-proc1 && echo x > /proc/self/root/${mark}-self && echo x > /proc/1/cwd/${mark}-cwd; echo END`,
    );
    completed(result);
    assert.match(result.output, /no data dir/);
    for (const path of [join(dataDir, mark), join(process.cwd(), mark), `/${mark}-proc1`, `/${mark}-self`, `/${mark}-cwd`, join(process.cwd(), `${mark}-cwd`)]) {
      assert.ok(!existsSync(path), `${path} must not exist on the host`);
    }
  });

  it('[SEC-4] hard links and device nodes cannot reach host files', async () => {
    const result = await probe(`ln /usr/bin/su /workspace/su-link && ${escaped}; ln /etc/alternatives/* /workspace/ 2>&1 | head -1; mknod /workspace/disk b 254 0 && ${escaped}; mknod /workspace/mem c 1 1 && ${escaped}; echo END`);
    completed(result);
    assert.match(result.output, /Invalid cross-device link/);
    assert.equal((result.output.match(/Operation not permitted/g) ?? []).length, 2, result.output);
  });

  it(
    '[SEC-4] a symlink the sandbox plants in its workspace is not followed by the host when it re-provisions the sandbox (file resources)',
    async () => {
      const hostFile = `/tmp/oma-hole-${tag}-file`;
      const hostDir = `/tmp/oma-hole-${tag}-dir`;
      mkdirSync(hostDir, { mode: 0o755 });
      try {
        const upload = (name: string, body: string) => oma.client.beta.files.upload({ file: new File([body], name, { type: 'text/plain' }) });
        const [a, b] = await Promise.all([upload('in.csv', 'a,b\n1,2\n'), upload('app.conf', 'setting=1\n')]);
        // The model plants symlinks over the resources' workspace copies, kills its own shell, and runs one more command:
        // the next call re-provisions the sandbox, and the host copies the resources again.
        const started = await startProbe([`ln -sfn ${hostFile} data/in.csv && rm -rf cfg && ln -sfn ${hostDir} cfg && ls -l data cfg | grep -c -- '->'`, 'kill -KILL $$', 'ls -l data cfg; echo END'], {
          resources: [
            { type: 'file', file_id: a.id, mount_path: '/workspace/data/in.csv' },
            { type: 'file', file_id: b.id, mount_path: '/workspace/cfg/app.conf' },
          ],
        });
        const [planted, killed, next] = await started.results();
        assert.equal(planted!.output, '2', 'both symlinks were planted');
        assert.equal(killed!.output, 'bash: bash session terminated');
        assert.ok(next, 'the next call re-provisioned the sandbox (or refused to)');
        const wrote = [hostFile, join(hostDir, 'app.conf')].filter((path) => existsSync(path)).map((path) => `${path} (uid ${statSync(path).uid}): ${JSON.stringify(readFileSync(path, 'utf8'))}`);
        assert.deepEqual(wrote, [], 'the host wrote outside the workspace through the sandbox\'s symlinks');
      } finally {
        rmSync(hostFile, { force: true });
        rmSync(hostDir, { recursive: true, force: true });
      }
    },
  );

  // ---- SEC-5: privilege escalation ----

  it('[SEC-5] nested user namespaces cannot be created (unshare, bwrap, unshare(2))', async () => {
    const result = await probe(
      `unshare -U true && ${escaped}; unshare -Ur id && ${escaped}; bwrap --bind / / true && ${escaped}
python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); print("unshare(CLONE_NEWUSER):", l.unshare(0x10000000), ctypes.get_errno())'
echo END`,
    );
    completed(result);
    assert.equal((result.output.match(/unshare failed: No space left on device/g) ?? []).length, 2, result.output);
    assert.match(result.output, /bwrap: Creating new namespace failed/);
    assert.match(result.output, /^unshare\(CLONE_NEWUSER\): -1 28$/m, 'ENOSPC');
  });

  it('[SEC-5] no other namespace can be created or entered (mount, net, pid, ipc, uts, cgroup; setns)', async () => {
    const result = await probe(
      `for flag in -m -n -pf -i -u -C -T; do unshare $flag true && echo "unshare $flag: ${'ESC""APED'}"; done; nsenter -t 1 -m -p true && ${escaped}; echo END`,
    );
    completed(result);
    assert.equal((result.output.match(/unshare failed: Operation not permitted/g) ?? []).length, 7, result.output);
    assert.match(result.output, /nsenter: .*Operation not permitted/);
  });

  it('[SEC-5] mount, umount, remount and chroot are refused', async () => {
    const result = await probe(
      `mount -t tmpfs t /tmp && ${escaped}; mount --bind /workspace /tmp && ${escaped}; mount -o remount,rw /usr && ${escaped}; umount /workspace && ${escaped}; umount -l /proc && ${escaped}
/usr/sbin/chroot / true && ${escaped}; python3 -c 'import os; os.chroot("/")' 2>&1 | tail -1; echo END`,
    );
    completed(result);
    assert.equal((result.output.match(/must be superuser to use mount/g) ?? []).length, 3, result.output);
    assert.match(result.output, /chroot: cannot change root directory to '\/': Operation not permitted/);
    assert.match(result.output, /PermissionError: \[Errno 1\] Operation not permitted/);
    assert.ok(existsSync('/proc/self'), 'the host /proc is intact');
  });

  it("[SEC-5] ptrace reaches only the sandbox's own processes, which share its namespaces and hold no capabilities", async () => {
    const script = String.raw`
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
me = os.getpid()
ns = lambda pid: [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("mnt", "pid", "net", "user", "ipc", "uts")]
def caps(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("CapEff", "CapPrm", "Uid")): yield line.split(":")[1].split()[0]
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == me: continue
    try:
        same, cap = ns(pid) == ns(me), list(caps(pid))
    except FileNotFoundError:
        continue
    seized = libc.ptrace(0x4206, pid, None, None)  # PTRACE_SEIZE: no stop
    print(pid, "seized" if seized == 0 else os.strerror(ctypes.get_errno()), "same-ns" if same else "OTHER-NS", cap)
    if not same or cap[0] != str(os.getuid()) or any(c != "0000000000000000" for c in cap[1:]): print("ESC" + "APED", pid)
for pid in (${process.pid}, ${process.ppid}):
    r = libc.ptrace(0x4206, pid, None, None)
    print("host pid", pid, "seized" if r == 0 else os.strerror(ctypes.get_errno()))
`;
    const result = await probe(`python3 -c ${sq(script)}; echo END`);
    completed(result);
    assert.match(result.output, /^1 seized same-ns/m, "its own init, in the sandbox's namespaces");
    assert.doesNotMatch(result.output, /OTHER-NS/);
    assert.match(result.output, new RegExp(`^host pid ${process.pid} No such process$`, 'm'));
  });

  it('[SEC-5] setuid binaries are inert: no_new_privs, an empty bounding set; each setuid binary runs with the sandbox\'s euid', async (t) => {
    // A preloaded constructor records the euid each setuid binary gets and exits before its main:
    // the binaries themselves never run. (Under no_new_privs there is no secure-exec, so the
    // preload is honoured; were the setuid bit effective, ld.so would drop it and log nothing.)
    // Setuid binaries the sandbox may execute: setuid and executable by others (it is "others" to them).
    const preload = String.raw`#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
__attribute__((constructor)) static void record(void) {
  FILE *log = fopen("/workspace/euid.log", "a");
  if (log) { fprintf(log, "%s euid %d\n", program_invocation_name, (int)geteuid()); fclose(log); }
  _exit(0);
}`;
    const result = await probe(
      `grep -E '^(NoNewPrivs|CapEff|CapBnd|CapAmb)' /proc/self/status
setuid=$(find /usr/bin /usr/sbin /usr/lib -maxdepth 3 -perm -4001 -type f 2>/dev/null); echo "setuid binaries: $(echo "$setuid" | grep -c /)"
if command -v gcc >/dev/null; then
  printf '%s\\n' ${sq(preload)} > /tmp/euid.c && gcc -shared -fPIC -o /workspace/euid.so /tmp/euid.c && for b in $setuid; do LD_PRELOAD=/workspace/euid.so "$b" </dev/null >/dev/null 2>&1; done
  echo "recorded: $(cat /workspace/euid.log 2>/dev/null | wc -l)"; cat /workspace/euid.log; awk '$3 == 0' /workspace/euid.log | grep -q . && ${escaped}; rm -f /workspace/euid.so /workspace/euid.log
else echo "no gcc"; fi
su root -c '${'echo ESC""APED'}' </dev/null; mount --bind /usr /tmp && ${escaped}; perl -e 'exit($> == 0 ? 0 : 1)' && ${escaped}; echo END`,
    );
    completed(result);
    assert.match(result.output, /^NoNewPrivs:\s+1$/m);
    for (const set of ['CapEff', 'CapBnd', 'CapAmb']) assert.match(result.output, new RegExp(`^${set}:\\s+0000000000000000$`, 'm'));
    const count = Number(result.output.match(/^setuid binaries: (\d+)$/m)![1]);
    if (/^no gcc$/m.test(result.output)) {
      t.diagnostic('no gcc in the sandbox: the euid of setuid binaries was not recorded');
    } else {
      assert.ok(count > 0, 'there are setuid binaries to try');
      assert.match(result.output, new RegExp(`^recorded: ${count}$`, 'm'), 'every setuid binary ran with the preload honoured');
      const euids = [...result.output.matchAll(/ euid (\d+)$/gm)].map((match) => Number(match[1]));
      assert.deepEqual([...new Set(euids)], [result.uid], "all ran with the sandbox's euid, none as root");
    }
    assert.match(result.output, /must be superuser to use mount/);
  });

  it('[SEC-5] no capability works: setuid(0), chown, raw sockets, kernel settings, hostname, sysrq', async () => {
    const script = String.raw`
import os, socket
def attempt(what, f):
    try:
        f(); print(what, "ESC" + "APED")
    except OSError as e:
        print(what, "refused:", e.strerror)
attempt("setuid(0)", lambda: os.setuid(0))
attempt("setgid(0)", lambda: os.setgid(0))
attempt("chown to root", lambda: os.chown("/workspace", 0, 0))
attempt("raw socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("drop_caches", lambda: open("/proc/sys/vm/drop_caches", "w").write("1"))
attempt("sysrq help", lambda: open("/proc/sysrq-trigger", "w").write("h"))
def sethostname():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.sethostname(b"x", 1) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("sethostname", sethostname)
`;
    const result = await probe(`python3 -c ${sq(script)}; hostname; echo END`);
    completed(result);
    const refused = result.output.split('\n').filter((line) => line.includes('refused:'));
    assert.equal(refused.length, 7, result.output);
    assert.match(result.output, /^sandbox$/m);
  });

  it('[SEC-5] signals reach only the sandbox: kill -9 -1 ends its own shell, the server lives on, the next call gets a fresh sandbox', async () => {
    const started = await startProbe([`kill -0 ${process.pid} && ${escaped}; /usr/bin/kill -KILL -1; echo survived`, 'echo fresh; echo END']);
    const [killed, fresh] = await started.results();
    assert.match(killed!.output, /bash session terminated|the sandbox was killed/);
    completed(fresh!);
    assert.equal(await healthy(), 200);
  });

  // ---- SEC-6: resource exhaustion ----

  it('[SEC-6] a fork bomb stops at the pids limit, is cut by the call timeout, and the server stays responsive', { skip: skipExhaustion }, async (t) => {
    const started = await startProbe([`bomb() { bomb | bomb & }; bomb; while :; do :; done`], { timeoutMs: 3_000 });
    let most = 0;
    let healthDuring = 0;
    const watching = (async () => {
      for (let i = 0; i < 40; i++) {
        most = Math.max(most, processesOf(started.uid).length);
        if (i === 15) healthDuring = await healthy();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const [result] = await started.results();
    await watching;
    assert.equal(result!.isError, true);
    assert.match(result!.output, /timed out after 3000ms/);
    t.diagnostic(`at most ${most} processes of the sandbox uid during the bomb (pids limit ${limits.pids})`);
    assert.ok(most > 10, `the bomb ran (${most} processes)`);
    assert.ok(most <= limits.pids, `at most the pids limit (${most})`);
    assert.equal(healthDuring, 200, 'the server answered during the bomb');
    assert.ok(await until(() => processesOf(started.uid).length === 0, 3_000), 'nothing of the bomb survives');
  });

  it('[SEC-6] memory exhaustion is stopped by the memory limit: the hog is killed, the shell survives', { skip: skipExhaustion }, async () => {
    const result = await probe(`python3 -c 'b = b"x" * (512 << 20); print("ESC" + "APED")'; echo "status $?"; echo END`);
    completed(result);
    assert.match(result.output, /Killed/);
    assert.match(result.output, /^status 137$/m);
  });

  it('[SEC-6] /tmp is bounded: 200 MB into it stop at its size (and the memory limit)', { skip: skipExhaustion }, async () => {
    const started = await startProbe([`head -c 200M /dev/zero > /tmp/fill; echo "tmp fill: $(stat -c %s /tmp/fill)"; echo END`, 'echo again; echo END']);
    const [fill, again] = await started.results();
    // The tmpfs is full (or the writer, or the shell, is OOM-killed): the 200 MB never land.
    assert.doesNotMatch(fill!.output, /tmp fill: 209715200/);
    assert.match(fill!.output, /No space left on device|Killed|bash session terminated/);
    completed(again!);
    assert.equal(await healthy(), 200);
  });

  it('[SEC-6] disk: one file beyond the per-file limit is cut (RLIMIT_FSIZE, which the sandbox cannot raise)', { skip: skipExhaustion }, async () => {
    const result = await probe(`ulimit -f unlimited && ${escaped}; head -c 200M /dev/zero > /workspace/big; echo "status $?"; echo "big: $(stat -c %s /workspace/big)"; rm -f /workspace/big; echo END`);
    completed(result);
    assert.match(result.output, /ulimit: file size: cannot modify limit: Operation not permitted/);
    assert.match(result.output, /File size limit exceeded/);
    assert.match(result.output, new RegExp(`^big: ${limits.fileBytes}$`, 'm'));
  });

  it('[SEC-6] disk: 200 MB in many files under the per-file limit fill the workspace quota, not the host; the server stays healthy', { skip: skipExhaustion || (diskQuotaSupport().supported ? false : `no workspace quota here: ${(diskQuotaSupport() as { reason: string }).reason}`) }, async () => {
    const started = await startProbe([
      'for i in 1 2 3 4; do head -c 50M /dev/zero > /workspace/fill$i; done; echo "workspace fill: $(cat /workspace/fill* | wc -c)"; df -B1 --output=size /workspace | tail -1; echo END',
      'rm -f /workspace/fill*; echo "left: $(ls -A /workspace | wc -l)"; echo END',
    ]);
    const [fill, cleaned] = await started.results();
    completed(fill!);
    assert.match(fill!.output, /No space left on device/);
    const written = Number(/workspace fill: (\d+)/.exec(fill!.output)?.[1]);
    assert.ok(written < limits.diskBytes, `at most the quota was written (${written} bytes)`);
    // The host holds an image of at most the quota, taking only what is in use (sparse).
    const image = `${join(workspaces, started.sessionId)}.ext4`;
    assert.equal(statSync(image).size, limits.diskBytes);
    assert.ok(statSync(image).blocks * 512 <= limits.diskBytes, 'the image takes no more than its size');
    completed(cleaned!);
    assert.match(cleaned!.output, /left: 0/);
    assert.equal(await healthy(), 200);
  });

  // ---- SEC-7: processes outliving the call ----

  it('[SEC-7] a call past its timeout is cut, and its sandbox with every process in it is killed', async () => {
    const started = await startProbe([`sleep 600 & setsid sleep 601 >/dev/null 2>&1 & sleep 602; ${escaped}`], { timeoutMs: 1_500 });
    const [result] = await started.results();
    assert.equal(result!.isError, true);
    assert.match(result!.output, /timed out after 1500ms/);
    assert.ok(await until(() => processesOf(started.uid).length === 0, 3_000), `left: ${processesOf(started.uid).join('; ')}`);
  });

  it('[SEC-7] background and daemonized processes live with the sandbox, never beyond it', async () => {
    const started = await startProbe([
      'nohup sleep 600 >/dev/null 2>&1 & setsid sleep 601 >/dev/null 2>&1 </dev/null & (setsid sleep 602 >/dev/null 2>&1 </dev/null &); disown -a; echo started',
    ]);
    const [result] = await started.results();
    assert.equal(result!.output, 'started');
    const sleeping = processesOf(started.uid).filter((line) => / sleep 60[012]$/.test(line));
    assert.equal(sleeping.length, 3, 'they run while the sandbox lives (as designed)');
    await pool.reap(Date.now() + 60 * 60_000); // dispose every idle sandbox, this one included
    assert.ok(await until(() => processesOf(started.uid).length === 0, 3_000), `left: ${processesOf(started.uid).join('; ')}`);
  });

  // ---- afterwards: events, host, server ----

  it('[SEC-8] no canary appears in any event of any session: events.list and the raw events table', async (t) => {
    t.diagnostic(`${probed.length} probe sessions`);
    const sessions: string[] = [];
    for await (const session of oma.client.beta.sessions.list({ limit: 100 })) sessions.push(session.id);
    assert.ok(probed.every(({ sessionId }) => sessions.includes(sessionId)) && sessions.includes(secretSessionId));
    let listed = 0;
    for (const sessionId of sessions) {
      const events = await listAll(oma.client, sessionId);
      listed += events.length;
      const json = JSON.stringify(events);
      for (const secret of secrets) assert.ok(!json.includes(secret), `session ${sessionId} shows a secret in its events`);
      assert.ok(!json.includes(CANARY_PREFIX), `session ${sessionId} shows a canary in its events`);
    }
    const { rows } = await oma.db.query<{ session_id: string; seq: number; text: string }>('SELECT session_id, seq, payload::text AS text FROM events');
    assert.ok(rows.length >= listed && listed > 4 * probed.length, `${rows.length} rows, ${listed} listed`);
    const leaking = rows.filter((row) => secrets.some((secret) => row.text.includes(secret)) || row.text.includes(CANARY_PREFIX));
    assert.deepEqual(leaking.map((row) => `${row.session_id}#${row.seq}`), []);
  });

  it('[SEC-9] the host is unchanged: no marker outside the workspaces, host files intact, no process of a sandbox uid, no leftover cgroup', async () => {
    await pool.reap(Date.now() + 60 * 60_000);
    const uids = [...new Set(probed.map(({ uid }) => uid))];
    assert.ok(await until(() => uids.every((uid) => processesOf(uid).length === 0), 5_000), `left: ${uids.flatMap(processesOf).join('; ')}`);
    for (const [file, before] of fingerprints) assert.equal(fingerprint(file), before, `${file} changed`);
    const strays = ['/', '/tmp', '/usr', '/usr/bin', '/root', '/etc', dataDir, process.cwd()].flatMap((dir) => readdirSync(dir).filter((name) => name.includes(mark)).map((name) => join(dir, name)));
    assert.deepEqual(strays.filter((path) => path !== repoFile && path !== rootFile), [], 'files the sandboxes tried to create on the host');
    // This process's cgroups (named …-<oma pid>) that hold no process: a disposed sandbox's not removed.
    // (The one spare launcher waiting holds its cgroup, with its process in it.)
    const ours = ['memory', 'pids', 'cpu'].flatMap((controller) => {
      const dir = join('/sys/fs/cgroup', controller, 'oma');
      return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith(`-${process.pid}`)).map((name) => join(dir, name)) : [];
    });
    assert.ok(await until(() => ours.every((dir) => !existsSync(dir) || readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== ''), 3_000), 'every sandbox cgroup is removed');
    assert.ok(ours.length <= 3, `at most the spare launcher's groups are left: ${ours.join(', ')}`);
  });

  it('[SEC-9] the server is healthy afterwards: /healthz, and a normal turn with a tool call', async () => {
    assert.equal(await healthy(), 200);
    const result = await probe('echo hello; id -u; echo END');
    assert.equal(result.output, `hello\n${result.uid}\nEND`);
    assert.equal(result.isError, false);
    await pool.reap(Date.now() + 60 * 60_000);
    assert.ok(await until(() => processesOf(result.uid).length === 0, 3_000));
  });
});
