import { execFileSync } from 'node:child_process';

/** Why bubblewrap tests cannot run here (for `{ skip }`), or false when they can. */
export function bwrapMissing(): string | false {
  try {
    execFileSync('bwrap', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'bwrap is not installed (scripts/install.sh installs it)';
  }
}
