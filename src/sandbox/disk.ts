import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
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
 * Where a workspace's image is (created, if missing, by `MOUNT_SCRIPT`). Undefined when the workspace
 * predates quotas (a non-empty directory and no image): it stays a plain directory.
 */
export function workspaceImage(workspace: string): string | undefined {
  const image = `${workspace}.ext4`;
  if (existsSync(image)) return image;
  mkdirSync(workspace, { recursive: true, mode: 0o700 });
  return readdirSync(workspace).length > 0 ? undefined : image;
}

/**
 * Shell lines for the root launcher, before it drops privileges: `$1` image, `$2` workspace (the mount
 * point), `$3` size in bytes, `$4` the sandbox's uid. A missing image is made first (sparse; no
 * reserved blocks; tables initialised lazily: ~10 ms, a few MiB on disk; under a temporary name, so
 * a half-made one is never used). Should the image still be mounted elsewhere (a previous sandbox's
 * namespace going away, a host-side read), mount reuses that loop device and the kernel shares the
 * one file system, so ext4 is never mounted twice. Exit 96/97 say why on stderr. Done here, in the
 * shell that starts the sandbox anyway, rather than in processes of its own: each spawn costs
 * milliseconds.
 */
export const MOUNT_SCRIPT = String.raw`
if [ ! -e "$1" ]; then
  truncate -s "$3" "$1.$$" && mkfs.ext4 -q -F -m 0 -E "lazy_itable_init=1,lazy_journal_init=1,root_owner=$4:$4" "$1.$$" && mv -n "$1.$$" "$1"
  rm -f "$1.$$"
  [ -e "$1" ] || exit 96
fi
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
