import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Real `oma` processes for crash and CLI tests (killed with real signals, SIGKILL included). */

export const OMA_BIN = fileURLToPath(new URL('../../bin/oma.js', import.meta.url));

export interface OmaProcess {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/** Environment for a child: ours minus what would leak into or confuse the test. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ['DATABASE_URL', 'OMA_API_KEY', 'OMA_DATA_DIR', 'PORT', 'HOST', 'OMA_URL', 'OMA_DB_SCHEMA']) delete base[name];
  return { ...base, ...env };
}

export function runOma(args: string[], env: Record<string, string | undefined> = {}): OmaProcess {
  const child = spawn(process.execPath, [OMA_BIN, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (err += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Run a command to completion. */
export async function runOmaToEnd(args: string[], env: Record<string, string | undefined> = {}) {
  const run = runOma(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Wait until `run` prints `pattern` on stdout; the match. Fails (and kills it, after `timeoutMs`) when it does not. */
async function waitForLine(run: OmaProcess, pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = run.stdout().match(pattern);
    if (match) return match;
    const ended = await Promise.race([run.exited, new Promise((resolve) => setTimeout(resolve, 25, 'waiting'))]);
    if (ended !== 'waiting') throw new Error(`${what} exited (${String(ended)}) before starting:\n${run.stdout()}\n${run.stderr()}`);
    if (Date.now() > deadline) {
      run.child.kill('SIGKILL');
      throw new Error(`${what} did not start within ${timeoutMs} ms:\n${run.stdout()}\n${run.stderr()}`);
    }
  }
}

/** `oma serve` on port 0; resolves once it listens, with its URL. */
export async function startOmaProcess(env: Record<string, string | undefined>, timeoutMs = 30_000): Promise<OmaProcess & { url: string }> {
  const run = runOma(['serve'], { PORT: '0', ...env });
  const match = await waitForLine(run, /oma listening on (http:\/\/\S+)/, 'oma serve', timeoutMs);
  return { ...run, url: match[1]! };
}

/** `oma worker [args]`; resolves once it runs brains. */
export async function startOmaWorker(env: Record<string, string | undefined>, timeoutMs = 30_000, args: string[] = []): Promise<OmaProcess> {
  const run = runOma(['worker', ...args], env);
  await waitForLine(run, /oma worker \d+:/, 'oma worker', timeoutMs);
  return run;
}
