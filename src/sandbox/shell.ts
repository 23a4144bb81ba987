import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * A persistent bash driven over its stdin: the one process a sandbox runs. The bash tool's commands
 * run in it (so `cd`, variables and background jobs persist between calls, as the agent toolset's
 * bash does), and the file tools run in subshells of it (so they see exactly what the sandbox
 * sees, and never disturb the shell's state).
 *
 * Protocol: each call sends one line, `__oma <token> <byte length> <mode>`, then the script's bytes;
 * the shell reads exactly those bytes (no process started to decode them) and evaluates them with
 * stdin from /dev/null and stderr merged into stdout, then prints a sentinel
 * `\x1eOMA <token> <status>\x1e`. The script never appears on a command line (it would be readable
 * through /proc), and the token is fresh per call. Scripts cannot contain NUL bytes.
 */

/** Defined once in the shell at start. `mode` `shell` runs in the shell itself; `sub` in a subshell at /workspace. */
export const SHELL_PRELUDE = String.raw`
__oma() {
  local __oma_token=$1 __oma_length=$2 __oma_mode=$3 __oma_script= __oma_status
  # The script follows on stdin, exactly this many bytes (bash reads a pipe byte by byte, so nothing else is consumed).
  [ "$__oma_length" -gt 0 ] && LC_ALL=C IFS= read -r -d '' -N "$__oma_length" __oma_script
  if [ "$__oma_mode" = sub ]; then
    ( cd "$OMA_WORKDIR" && eval "$__oma_script" ) </dev/null 2>&1
  else
    eval "$__oma_script" </dev/null 2>&1
  fi
  __oma_status=$?
  printf '\n\036OMA %s %d\036\n' "$__oma_token" "$__oma_status"
}
`;

/** Output kept per call while it runs; more keeps its last half, after `TRUNCATED`. */
const MAX_BUFFER_BYTES = 4 * 1024 * 1024;
export const TRUNCATED = '[earlier output dropped]\n';

export interface ShellResult {
  output: string;
  status: number;
}

/** The shell ended (it exited, or was killed): the sandbox is gone. */
export class ShellGone extends Error {
  /** True when the sandbox never started (its program is missing or could not run). */
  readonly startup: boolean;
  constructor(message: string, options: { startup?: boolean } = {}) {
    super(message);
    this.name = 'ShellGone';
    this.startup = options.startup ?? false;
  }
}

export class Shell {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { token: string; resolve: (result: ShellResult) => void; reject: (error: Error) => void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private gone: Error | undefined;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    // The launcher's and bwrap's own complaints (the shell's stderr goes to stdout): the end is kept to say why a sandbox ended.
    let complaints = '';
    child.stderr.on('data', (chunk: Buffer) => (complaints = (complaints + chunk.toString('utf8')).slice(-1000)));
    child.on('exit', (code, signal) => {
      const why = complaints.trim() ? `: ${complaints.trim()}` : '';
      this.fail(new ShellGone(signal ? `the sandbox was killed (${signal})${why}` : `the sandbox's shell exited (${code})${why}`));
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      this.fail(
        new ShellGone(error.code === 'ENOENT' ? `${error.path ?? 'the sandbox program'} is not installed (scripts/install.sh installs bubblewrap)` : `the sandbox could not start: ${error.message}`, {
          startup: true,
        }),
      ),
    );
    child.stdin.on('error', () => {});
    child.stdin.write(`${SHELL_PRELUDE}\n`);
  }

  get alive(): boolean {
    return this.gone === undefined;
  }

  /**
   * Run `script` (`mode` `shell`: in the persistent shell; `sub`: in a subshell at the workdir).
   * Calls are serialised. Rejects with `ShellGone` when the shell dies meanwhile.
   */
  run(script: string, mode: 'shell' | 'sub' = 'shell'): Promise<ShellResult> {
    const next = this.queue.then(() => this.runNow(script, mode));
    this.queue = next.catch(() => {});
    return next;
  }

  private runNow(script: string, mode: 'shell' | 'sub'): Promise<ShellResult> {
    if (this.gone) return Promise.reject(this.gone);
    const token = randomBytes(12).toString('hex');
    return new Promise<ShellResult>((resolve, reject) => {
      this.waiting = { token, resolve, reject };
      this.buffer = Buffer.alloc(0);
      const bytes = Buffer.from(script.replaceAll('\0', ''));
      this.child.stdin.write(Buffer.concat([Buffer.from(`__oma ${token} ${bytes.length} ${mode}\n`), bytes]));
    });
  }

  private onData(chunk: Buffer) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    // A command may print gigabytes: only the end is ever shown, so only the end is kept (the sentinel
    // is at the very end, so it is never cut).
    if (this.buffer.length > MAX_BUFFER_BYTES) {
      this.buffer = Buffer.concat([Buffer.from(TRUNCATED), this.buffer.subarray(this.buffer.length - MAX_BUFFER_BYTES / 2)]);
    }
    const waiting = this.waiting;
    if (!waiting) return;
    const marker = Buffer.from(`\n\x1eOMA ${waiting.token} `);
    const at = this.buffer.indexOf(marker);
    if (at < 0) return;
    const end = this.buffer.indexOf('\x1e\n', at + marker.length);
    if (end < 0) return;
    const status = Number(this.buffer.subarray(at + marker.length, end).toString());
    const output = this.buffer.subarray(0, at).toString('utf8');
    this.buffer = this.buffer.subarray(end + 2);
    this.waiting = undefined;
    waiting.resolve({ output, status });
  }

  private fail(error: Error) {
    this.gone ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }

  /** Output received so far for the call in flight (what a timed-out command printed). */
  partialOutput(): string {
    return this.buffer.toString('utf8');
  }
}

/** Quote a value for a shell script: the script itself travels base64-encoded, so this only has to be correct bash. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
