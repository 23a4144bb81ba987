import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MOUNT_OPTIONS = 'loop,nosuid,nodev,discard';

/**
 * A workspace with a size: a sparse ext4 image per session (`<root>/<session>.ext4`), mounted at the
 * workspace directory inside the sandbox's own mount namespace only (`unshare --mount` before bwrap),
 * so no host mount is ever left behind: when the sandbox's last process dies, the namespace, the
 * mount and its loop device (`autoclear`) go with it, whether oma disposed it or was killed. A full
 * workspace is `No space left on device` inside the sandbox, never a full host disk. The image only
 * takes the space its files take (sparse, `discard` gives deleted blocks back), and it outlives
 * sandboxes like the directory did, so a reaped session's next sandbox finds its files.
 *
 * Needs root, loop devices and mkfs.ext4; `diskQuotaSupport` says why not otherwise, and workspaces
 * are then plain directories limited per file only.
 */

export type DiskQuotaSupport = { supported: true } | { supported: false; reason: string };

let support: DiskQuotaSupport | undefined;

export function diskQuotaSupport(): DiskQuotaSupport {
  if (support) return support;
  if (process.getuid?.() !== 0) return (support = { supported: false, reason: 'oma is not running as root' });
  if (!existsSync('/dev/loop-control')) return (support = { supported: false, reason: 'no loop devices (/dev/loop-control)' });
  const missing = ['/usr/sbin/mkfs.ext4', '/usr/bin/unshare', '/usr/sbin/losetup'].find((path) => !existsSync(path) && !existsSync(path.replace('/usr', '')));
  if (missing) return (support = { supported: false, reason: `${missing} is not installed` });
  return (support = { supported: true });
}

/**
 * The image for a workspace, created on first use (owned inside by `uid`). Undefined when the
 * workspace predates quotas (a non-empty directory and no image): it stays a plain directory.
 */
export async function workspaceImage(workspace: string, bytes: number, uid: number): Promise<string | undefined> {
  const image = `${workspace}.ext4`;
  if (existsSync(image)) return image;
  mkdirSync(workspace, { recursive: true, mode: 0o700 });
  if (readdirSync(workspace).length > 0) return undefined;
  const creating = `${image}.${process.pid}.new`;
  await run('truncate', ['-s', String(bytes), creating]);
  // No reserved blocks, lazily initialised tables (creation ~20 ms, a few hundred KiB on disk).
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', `lazy_itable_init=1,lazy_journal_init=1,root_owner=${uid}:${uid}`, creating]);
  await run('mv', ['-n', creating, image]); // another process may have won the race: keep its image
  await run('rm', ['-f', creating]);
  return image;
}

/**
 * Shell lines for the root launcher, before it drops privileges: mount the image `$1` at `$2`. Should
 * the image still be mounted elsewhere (a previous sandbox's namespace going away, a host-side read),
 * mount reuses that loop device and the kernel shares the one file system, so ext4 is never mounted
 * twice. Exit 97 says why on stderr.
 */
export const MOUNT_SCRIPT = String.raw`
mount -o ${MOUNT_OPTIONS} "$1" "$2" || exit 97
rmdir "$2/lost+found" 2>/dev/null
`;

/**
 * Read one file of a session's workspace from the host (diagnostics and tests), through a read-only
 * mount in a private namespace when the workspace is an image. Symlinks that lead out of the
 * workspace are refused: the sandbox may have left them to point the host at its own files.
 */
export async function readWorkspaceFile(workspace: string, path: string): Promise<Buffer> {
  if (path.startsWith('/') || path.split('/').includes('..')) throw new Error(`${path} is not a path inside the workspace`);
  const image = `${workspace}.ext4`;
  const read = String.raw`
[ -z "$1" ] || mount -o ${MOUNT_OPTIONS} "$1" "$2" || exit 97
target=$(realpath -e -- "$2/$3") || exit 2
case "$target" in "$2"/*) exec cat -- "$target" ;; *) echo "$3 leads out of the workspace" >&2; exit 3 ;; esac`;
  const useImage = existsSync(image);
  const command = useImage ? ['unshare', '--mount', '--propagation', 'private', 'sh'] : ['sh'];
  const { stdout } = await run(command[0]!, [...command.slice(1), '-c', read, 'sh', useImage ? image : '', workspace, path], { encoding: 'buffer', maxBuffer: 1024 ** 3 });
  return stdout;
}

/** Bytes the image takes on the host disk (sparse), for status and tests. */
export function imageUsage(image: string): number {
  return statSync(image).blocks * 512;
}
