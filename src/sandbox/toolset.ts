import { ToolError } from './interface.ts';
import { quote, ShellGone, type Shell } from './shell.ts';

/**
 * The agent toolset (`bash`, `read`, `write`, `edit`, `glob`, `grep`) run inside a sandbox's shell,
 * with the inputs and the result and error texts of the SDK's own toolset (spec hands §7.2): a
 * success is the text the model sees, a failure a `ToolError` with the SDK's wording. Paths are
 * relative to the workdir; absolute ones mean what they mean inside the sandbox, which sees only
 * its own mounts — the sandbox is the confinement.
 */

export interface ToolsetContext {
  shell: Shell;
  /** The workdir inside the sandbox, e.g. `/workspace`. */
  workdir: string;
  /** Discard the sandbox (its shell and every process in it): after a timeout, an abort, a restart. */
  kill(): void;
  signal?: AbortSignal;
}

const MAX_FILE_BYTES = 256 * 1024;
const MAX_OUTPUT_BYTES = 100 * 1024;
const DEFAULT_BASH_TIMEOUT_MS = 120_000;
const GLOB_LIMIT = 200;
const GLOB_WALK_LIMIT = 50_000;

export async function runToolsetTool(context: ToolsetContext, name: string, input: Record<string, unknown>): Promise<string> {
  switch (name) {
    case 'bash':
      return bash(context, input);
    case 'read':
      return read(context, input);
    case 'write':
      return write(context, input);
    case 'edit':
      return edit(context, input);
    case 'glob':
      return glob(context, input);
    case 'grep':
      return grep(context, input);
    default:
      throw new ToolError(`${name}: not a tool of the agent toolset`);
  }
}

/** Run in the shell, with a deadline and the caller's abort; either discards the sandbox. */
async function inShell(context: ToolsetContext, script: string, mode: 'shell' | 'sub', timeoutMs: number, tool: string) {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      context.kill();
      reject(new ToolError(`${tool}: ${tool} command timed out after ${timeoutMs}ms`));
    }, timeoutMs);
    onAbort = () => {
      context.kill();
      reject(new ToolError(`${tool}: ${String((context.signal?.reason as Error | undefined)?.message ?? 'aborted')}`));
    };
    if (context.signal?.aborted) onAbort();
    else context.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([context.shell.run(script, mode), stopped]);
  } catch (error) {
    if (error instanceof ShellGone) throw new ToolError(error.startup ? `${tool}: ${error.message}` : `${tool}: bash session terminated`);
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) context.signal?.removeEventListener('abort', onAbort);
  }
}

function required(input: Record<string, unknown>, field: string, tool: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value === '') throw new ToolError(`${tool}: ${field} is required`);
  return value;
}

// ---- bash ----

async function bash(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const command = typeof input.command === 'string' ? input.command : '';
  if (input.restart === true && command === '') {
    context.kill();
    return 'bash session restarted';
  }
  if (command === '') throw new ToolError('bash: command is required');
  if (input.restart === true) throw new ToolError('bash: restart the session first (restart: true without a command), then run the command');
  const requested = typeof input.timeout_ms === 'number' && input.timeout_ms > 0 ? input.timeout_ms : DEFAULT_BASH_TIMEOUT_MS;
  const { output, status } = await inShell(context, command, 'shell', Math.min(requested, DEFAULT_BASH_TIMEOUT_MS), 'bash');
  const text = keepLast(stripAnsi(output).replace(/\n+$/, ''), MAX_OUTPUT_BYTES, '[output truncated]\n');
  if (status !== 0) throw new ToolError(text === '' ? `exit ${status}` : text);
  return text;
}

// ---- files ----

/** Reads a file through the shell as base64, after checks whose failures the SDK words as below. */
async function readFile(context: ToolsetContext, path: string, tool: string, limit: number, range?: [number, number]) {
  const select = range ? `sed -n ${quote(`${range[0]},${range[1] <= 0 ? '$' : range[1]}p`)} -- "$f"` : 'cat -- "$f"';
  const script = `f=${quote(path)}
if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo E:noent; elif [ -d "$f" ]; then echo E:isdir; elif [ ! -f "$f" ]; then echo E:notreg; elif [ ! -r "$f" ]; then echo E:perm
else echo "S:$(stat -L -c %s -- "$f")"; ${select} | head -c ${limit + 1} | base64 -w0; fi`;
  const { output } = await inShell(context, script, 'sub', 60_000, tool);
  const [head, body = ''] = output.split('\n');
  const errors: Record<string, string> = { 'E:noent': 'no such file or directory', 'E:isdir': 'is a directory', 'E:perm': 'permission denied' };
  if (head === 'E:notreg') throw new ToolError(`${tool}: ${path} is not a regular file`);
  if (head && errors[head]) throw new ToolError(`${tool}: ${path}: ${errors[head]}`);
  if (!head?.startsWith('S:')) throw new ToolError(`${tool}: ${path}: ${output.trim() || 'could not be read'}`);
  return { size: Number(head.slice(2)), bytes: Buffer.from(body.trim(), 'base64') };
}

async function read(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const path = required(input, 'file_path', 'read');
  let range: [number, number] | undefined;
  if (input.view_range !== undefined && input.view_range !== null) {
    const value = input.view_range;
    if (!Array.isArray(value) || value.length !== 2 || !value.every((n) => Number.isInteger(n))) throw new ToolError('read: view_range must be [start_line, end_line]');
    range = [Math.max(1, value[0] as number), value[1] as number];
  }
  const { size, bytes } = await readFile(context, path, 'read', MAX_FILE_BYTES, range);
  if (!range && size > MAX_FILE_BYTES) {
    throw new ToolError(`read: ${path} is ${size} bytes, exceeds ${MAX_FILE_BYTES}-byte limit. Use the view_range parameter to read part of it`);
  }
  if (bytes.length > MAX_FILE_BYTES) {
    throw new ToolError(`read: view_range [${range![0]}, ${range![1]}] of ${path} exceeds ${MAX_FILE_BYTES}-byte limit. Use a smaller view_range`);
  }
  if (bytes.includes(0)) throw new ToolError(`read: ${path} is a binary file (${size} bytes); inspect it with bash (e.g. file, xxd)`);
  return bytes.toString('utf8');
}

async function writeFile(context: ToolsetContext, path: string, content: string, tool: string) {
  const script = `f=${quote(path)}
mkdir -p -- "$(dirname -- "$f")" || exit 1
t="$(dirname -- "$f")/.oma-write-$$"
printf %s ${quote(Buffer.from(content).toString('base64'))} | base64 -d > "$t" && mv -f -- "$t" "$f" || { rm -f -- "$t"; exit 1; }`;
  const { output, status } = await inShell(context, script, 'sub', 60_000, tool);
  if (status !== 0) throw new ToolError(`${tool}: ${output.trim().split('\n').at(-1)?.replace(/^[^:]*: /, '') || `could not write ${path}`}`);
}

async function write(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const path = required(input, 'file_path', 'write');
  const content = typeof input.content === 'string' ? input.content : '';
  await writeFile(context, path, content, 'write');
  return `wrote ${Buffer.byteLength(content)} bytes to ${path}`;
}

async function edit(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const path = required(input, 'file_path', 'edit');
  const oldString = required(input, 'old_string', 'edit');
  const newString = typeof input.new_string === 'string' ? input.new_string : '';
  const { size, bytes } = await readFile(context, path, 'edit', MAX_FILE_BYTES);
  if (size > MAX_FILE_BYTES) throw new ToolError(`edit: ${path} is ${size} bytes, exceeds ${MAX_FILE_BYTES}-byte limit`);
  const text = bytes.toString('utf8');
  const count = text.split(oldString).length - 1;
  if (count === 0) throw new ToolError(`edit: old_string not found in ${path}`);
  if (count > 1 && input.replace_all !== true) throw new ToolError(`edit: old_string appears ${count} times in ${path} (must be unique)`);
  // Literal replacement: split/join has no `$&` expansion.
  await writeFile(context, path, text.split(oldString).join(newString), 'edit: write');
  return `edited ${path} (${count} replacement${count === 1 ? '' : 's'})`;
}

// ---- search ----

async function glob(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const pattern = required(input, 'pattern', 'glob');
  if (pattern.startsWith('/')) throw new ToolError('glob: absolute pattern not permitted; pass a relative pattern (and optionally path)');
  if (pattern.split('/').includes('..')) throw new ToolError('glob: ".." is not permitted in the pattern');
  const dir = typeof input.path === 'string' && input.path !== '' ? input.path : '.';
  const script = `d=${quote(dir)}; cd -- "$d" || exit 2
find . \\( -name .git -o -name node_modules \\) -prune -o -type f -printf '%T@ %P\\n' 2>/dev/null | head -n ${GLOB_WALK_LIMIT}
printf '\\036ROOT %s\\n' "$(pwd -P)"`;
  const { output, status } = await inShell(context, script, 'sub', 60_000, 'glob');
  if (status === 2) throw new ToolError(`glob: ${dir}: no such file or directory`);
  const lines = output.split('\n');
  const root = lines.find((line) => line.startsWith('\x1eROOT '))?.slice(6) ?? context.workdir;
  const matcher = globToRegExp(pattern);
  const matches = lines
    .filter((line) => line && !line.startsWith('\x1e'))
    .map((line) => ({ mtime: Number(line.slice(0, line.indexOf(' '))), path: line.slice(line.indexOf(' ') + 1) }))
    .filter((entry) => matcher.test(entry.path))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(0, GLOB_LIMIT)
    .map((entry) => `${root === '/' ? '' : root}/${entry.path}`);
  return matches.length === 0 ? 'no matches' : matches.join('\n');
}

/** `**` any depth, `*` and `?` within a segment, `{a,b}` alternatives. */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '{') out += '(?:';
    else if (c === '}') out += ')';
    else if (c === ',' && out.includes('(?:')) out += '|';
    else out += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

async function grep(context: ToolsetContext, input: Record<string, unknown>): Promise<string> {
  const pattern = required(input, 'pattern', 'grep');
  const path = typeof input.path === 'string' && input.path !== '' ? input.path : context.workdir;
  const script = `grep -rnI --exclude-dir=.git --exclude-dir=node_modules -E -e ${quote(pattern)} -- ${quote(path)} 2>&1 | head -c ${MAX_OUTPUT_BYTES + 1}; exit \${PIPESTATUS[0]}`;
  const { output, status } = await inShell(context, script, 'sub', 60_000, 'grep');
  if (status === 1 && output === '') return 'no matches';
  if (status === 2) throw new ToolError(/Unmatched|Invalid|unbalanced/i.test(output) ? `grep: invalid regex: ${output.trim()}` : `grep: ${output.trim()}`);
  const text = output.replace(/\n+$/, '');
  return Buffer.byteLength(text) > MAX_OUTPUT_BYTES ? `${Buffer.from(text).subarray(0, MAX_OUTPUT_BYTES).toString('utf8')}\n[output truncated at ${MAX_OUTPUT_BYTES} bytes]` : text;
}

// ---- text ----

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07/g, '');
}

function keepLast(text: string, maxBytes: number, marker: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= maxBytes ? text : marker + bytes.subarray(bytes.length - maxBytes).toString('utf8');
}
