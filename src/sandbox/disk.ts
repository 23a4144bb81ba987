import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
 * Shell for the root launcher (see launcher.ts), which runs in a mount namespace of its own.
 *
 * `make_image PATH SIZE` makes an empty image (sparse; no reserved blocks; tables initialised lazily:
 * ~10 ms, a few MiB on disk) under a temporary name, so a half-made one is never used.
 *
 * `prepare_spare SPARE SIZE FREE`, run while nobody waits: takes the spare an earlier launcher left
 * unused (FREE, a rename: whoever renames it first has it) or makes one, and mounts it at /mnt (in
 * this namespace only). A spare mounted is one launcher's alone: one file system mounted in two
 * waiting launchers could be handed to two sessions.
 *
 * `mount_workspace IMAGE WORKSPACE SIZE UID`: a session without an image yet gets the spare (renamed
 * to be its image, its mount moved to the workspace: no loop set-up in the critical path); one with
 * an image has it mounted (~6 ms), and the unused spare is left for the next launcher. Should an image still be mounted
 * elsewhere (a previous sandbox's namespace going away, a host-side read), mount reuses that loop
 * device and the kernel shares the one file system, so ext4 is never mounted twice. The file
 * system's root then belongs to the sandbox's uid. Exit 96/97 say why on stderr.
 */
export const IMAGE_FUNCTIONS = String.raw`
make_image() {
  truncate -s "$2" "$1.$$" && mkfs.ext4 -q -F -m 0 -E lazy_itable_init=1,lazy_journal_init=1 "$1.$$" && mv -n "$1.$$" "$1"
  rm -f "$1.$$"
  [ -e "$1" ]
}
spare=- free=-
prepare_spare() {
  [ "$1" != - ] || return 0
  free=$3
  { mv -n "$3" "$1" 2>/dev/null && [ -e "$1" ]; } || make_image "$1" "$2" || return 0
  mount -o ${MOUNT_OPTIONS} "$1" /mnt && spare=$1
}
drop_spare() {
  [ "$spare" = - ] || { umount -l /mnt; mv -n "$spare" "$free" 2>/dev/null; rm -f "$spare"; spare=-; }
}
mount_workspace() {
  if [ ! -e "$1" ] && [ "$spare" != - ] && mv -n "$spare" "$1" && [ ! -e "$spare" ]; then
    spare=-
    mount --move /mnt "$2" || exit 97
  else
    drop_spare & # not waited for: its file system is never this session's
    [ -e "$1" ] || make_image "$1" "$3" || exit 96
    mount -o ${MOUNT_OPTIONS} "$1" "$2" || exit 97
  fi
  chown "$4:$4" "$2" && chmod 755 "$2" || exit 97
  rmdir "$2/lost+found" 2>/dev/null
  return 0
}
`;

/**
 * Spare images are named after the oma process that made them (see `sweepSpareImages`): one per
 * launcher, and one left unused for the next (`serial` undefined).
 */
export function spareImage(root: string, bytes: number, serial?: number): string {
  return join(root, `.spare-${process.pid}-${serial ?? 'free'}-${bytes}.ext4`);
}

/** Remove spare images of oma processes that are gone (a killed launcher cannot remove its own). */
export function sweepSpareImages(root: string) {
  for (const name of existsSync(root) ? readdirSync(root) : []) {
    const owner = Number(/^\.spare-(\d+)-/.exec(name)?.[1]);
    if (owner && owner !== process.pid && !alive(owner)) rmSync(join(root, name), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
