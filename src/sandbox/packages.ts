import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvironmentPackages } from './interface.ts';
import { quote } from './shell.ts';

/**
 * An environment's packages (`config.packages`: apt, cargo, gem, go, npm, pip — manager-native specs),
 * installed once per distinct set into a cache directory and then bound read-only into every sandbox
 * of every session that needs the same set, at `PACKAGES_DIR`, with the environment variables that
 * make them found (PATH, NODE_PATH, PYTHONPATH, GEM_PATH, LD_LIBRARY_PATH).
 *
 * Installing runs the managers, and so code from the registries (npm and pip install scripts), so it
 * runs like any sandbox (see `Installer`): the only thing it may write is the cache entry it is
 * building, and its only network is the host-side egress proxy, open to the package registries. The
 * managers run in alphabetical order, as the spec says. Nothing runs as root on the host and nothing
 * is installed into the host's own system: apt packages are downloaded with their missing
 * dependencies and unpacked (`dpkg-deb -x`) into the entry; their maintainer scripts do not run.
 */

export const PACKAGE_MANAGERS = ['apt', 'cargo', 'gem', 'go', 'npm', 'pip'] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];
type Packages = EnvironmentPackages;

/** Where a package set is seen inside a sandbox (and where it is installed, so baked-in paths hold). */
export const PACKAGES_DIR = '/opt/oma/packages';

/** Public registries each manager needs (the installer's egress allowlist, besides configured mirrors). */
export const REGISTRY_HOSTS: Record<PackageManager, string[]> = {
  apt: ['deb.debian.org', 'security.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com'],
  cargo: ['crates.io', 'index.crates.io', 'static.crates.io', 'github.com'],
  gem: ['rubygems.org', 'index.rubygems.org'],
  go: ['proxy.golang.org', 'sum.golang.org', 'storage.googleapis.com'],
  npm: ['registry.npmjs.org'],
  pip: ['pypi.org', 'files.pythonhosted.org'],
};

export interface PackageSettings {
  /** Host directory of the cache, one entry per package set. */
  dir: string;
  /** An install taking longer fails (and is tried again by the next sandbox). */
  timeoutMs: number;
  /** Hosts the installer may reach besides `REGISTRY_HOSTS` (mirrors; `host:port` literal for loopback). */
  allowedHosts: string[];
  /** Environment for the managers (mirrors: npm_config_registry, PIP_INDEX_URL, GOPROXY, …). */
  env: Record<string, string>;
}

/** Runs an install script with `prefix` (at PACKAGES_DIR inside) writable; resolves with its status and output. */
export type Installer = (install: { key: string; script: string; target: string; managers: PackageManager[]; settings: PackageSettings }) => Promise<{ status: number; output: string }>;

/** The managers a set uses, with their specs: sorted and unique, so equal sets share a cache entry. */
export function normalizePackages(packages: Packages | undefined): [PackageManager, string[]][] {
  return PACKAGE_MANAGERS.map((manager) => [manager, [...new Set(packages?.[manager] ?? [])].sort()] as [PackageManager, string[]]).filter(([, specs]) => specs.length > 0);
}

const INSTALLER_VERSION = 1; // bump when the layout of an entry changes

export function packagesKey(packages: Packages | undefined): string {
  const canonical = JSON.stringify([INSTALLER_VERSION, process.arch, normalizePackages(packages)]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 24);
}

const MISSING = (manager: string, program: string) =>
  `command -v ${program} >/dev/null || { echo "oma: ${manager} packages need ${program}, which is not installed on this oma host" >&2; exit 3; }`;

/** The commands that install `packages` into `prefix` (bash; stops at the first failure). */
export function installScript(packages: Packages, prefix: string): string {
  // Scratch space is the installer's own workspace (the current directory), not the small /tmp.
  const lines = ['set -euo pipefail', 'umask 022', 'S=$PWD', 'export HOME="$S/home" TMPDIR="$S/tmp" && mkdir -p "$HOME" "$TMPDIR"', `P=${quote(prefix)}`];
  for (const [manager, specs] of normalizePackages(packages)) {
    const args = specs.map(quote).join(' ');
    lines.push(`echo "oma: installing ${manager} packages: ${specs.join(' ').replaceAll('"', '')}"`);
    switch (manager) {
      case 'apt':
        // What the host lacks of these packages and their dependencies, downloaded and unpacked into the entry.
        lines.push(
          MISSING('apt', 'apt-get'),
          'mkdir -p "$S/debs" && cd "$S/debs"',
          `missing=$(apt-get install --simulate -qq -o Debug::NoLocking=1 ${args} | awk '/^Inst /{print $2}')`,
          '[ -z "$missing" ] || apt-get download -o Debug::NoLocking=1 $missing',
          'mkdir -p "$P/apt"; for deb in "$S"/debs/*.deb; do [ ! -e "$deb" ] || dpkg-deb -x "$deb" "$P/apt"; done; cd "$S"',
        );
        break;
      case 'cargo':
        lines.push(MISSING('cargo', 'cargo'), `CARGO_HOME="$S/cargo" cargo install --root "$P/cargo" ${args}`);
        break;
      case 'gem':
        lines.push(MISSING('gem', 'gem'), `gem install --no-document --install-dir "$P/gem" --bindir "$P/gem/bin" ${args}`);
        break;
      case 'go':
        // `go install` needs a version: an unpinned spec means the latest.
        lines.push(MISSING('go', 'go'), `for spec in ${args}; do case "$spec" in *@*) ;; *) spec="$spec@latest" ;; esac; GOBIN="$P/go/bin" GOPATH="$S/go" GOCACHE="$S/go/cache" go install "$spec"; done`);
        break;
      case 'npm':
        lines.push(MISSING('npm', 'npm'), `npm install --global --prefix "$P/npm" --no-audit --no-fund --no-update-notifier --loglevel=error ${args}`);
        break;
      case 'pip':
        lines.push(MISSING('pip', 'python3'), `python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input --target "$P/pip" ${args}`);
        break;
    }
  }
  lines.push('echo "oma: packages installed"');
  return lines.join('\n');
}

/** What a sandbox needs to find the packages of a set installed at `prefix`. */
export function packagesEnv(packages: Packages | undefined, prefix: string, basePath = '/usr/local/bin:/usr/bin:/bin'): Record<string, string> {
  const managers = new Set(normalizePackages(packages).map(([manager]) => manager));
  const bins: Record<PackageManager, string[]> = {
    apt: [`${prefix}/apt/usr/local/bin`, `${prefix}/apt/usr/bin`, `${prefix}/apt/usr/sbin`, `${prefix}/apt/bin`],
    cargo: [`${prefix}/cargo/bin`],
    gem: [`${prefix}/gem/bin`],
    go: [`${prefix}/go/bin`],
    npm: [`${prefix}/npm/bin`],
    pip: [`${prefix}/pip/bin`],
  };
  const env: Record<string, string> = {};
  const path = PACKAGE_MANAGERS.filter((manager) => managers.has(manager)).flatMap((manager) => bins[manager]);
  if (path.length > 0) env.PATH = [...path, basePath].join(':');
  if (managers.has('npm')) env.NODE_PATH = `${prefix}/npm/lib/node_modules`;
  if (managers.has('pip')) env.PYTHONPATH = `${prefix}/pip`;
  if (managers.has('gem')) env.GEM_PATH = `${prefix}/gem`;
  if (managers.has('apt')) env.LD_LIBRARY_PATH = [`${prefix}/apt/usr/lib/${multiarch()}`, `${prefix}/apt/usr/lib`, `${prefix}/apt/lib/${multiarch()}`].join(':');
  return env;
}

function multiarch(): string {
  return process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
}

/**
 * The cache: `ensure` returns the directory holding an installed set, installing it first when no
 * entry exists. Concurrent callers for one set share one install; an entry appears whole or not at
 * all (built under a temporary name, renamed when complete), so a crash mid-install leaves nothing
 * that looks installed. A failed install is remembered for a minute (every sandbox of the session
 * would fail the same way), then tried again.
 */
export class PackageCache {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly failures = new Map<string, { error: Error; at: number }>();

  constructor(
    readonly settings: PackageSettings,
    private readonly install: Installer,
  ) {}

  async ensure(packages: Packages): Promise<string> {
    const key = packagesKey(packages);
    const entry = join(this.settings.dir, key);
    if (existsSync(entry)) return entry;
    const failed = this.failures.get(key);
    if (failed && Date.now() - failed.at < 60_000) throw failed.error;
    let installing = this.pending.get(key);
    if (!installing) {
      installing = this.build(key, entry, packages).finally(() => this.pending.delete(key));
      installing.catch((error: Error) => this.failures.set(key, { error, at: Date.now() }));
      this.pending.set(key, installing);
    }
    return installing;
  }

  private async build(key: string, entry: string, packages: Packages): Promise<string> {
    mkdirSync(this.settings.dir, { recursive: true, mode: 0o755 });
    const target = join(this.settings.dir, `.${key}.${process.pid}.partial`);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { mode: 0o755 });
    try {
      const managers = normalizePackages(packages).map(([manager]) => manager);
      const { status, output } = await this.install({ key, script: installScript(packages, PACKAGES_DIR), target, managers, settings: this.settings });
      if (status !== 0) throw new Error(`installing the environment's packages failed (exit ${status}):\n${output.trim().slice(-2000)}`);
      try {
        renameSync(target, entry);
      } catch (error) {
        if (!existsSync(entry)) throw error; // else another oma process finished first: keep its entry
      }
      return entry;
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  }
}
