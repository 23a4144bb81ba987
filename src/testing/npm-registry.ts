import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveOnLoopback } from './loopback.ts';

/**
 * A tiny npm registry on 127.0.0.1 (packuments and tarballs, what `npm install` asks for), so
 * package installation is tested with the real npm and no internet. Packages are built with
 * `npm pack` from the files given; every request is counted, so a test can tell a cache hit.
 */

export interface FakePackage {
  name: string;
  version: string;
  /** Files of the package besides package.json (path → content). */
  files: Record<string, string>;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
}

export interface FakeNpmRegistry {
  url: string;
  /** Requests seen, by path. */
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeNpmRegistry(packages: FakePackage[]): Promise<FakeNpmRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'oma-npm-'));
  const tarballs = new Map<string, Buffer>();
  const built = packages.map((pkg) => {
    const source = join(dir, pkg.name);
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, bin: pkg.bin, scripts: pkg.scripts, license: 'MIT' }));
    for (const [path, content] of Object.entries(pkg.files)) writeFileSync(join(source, path), content, { mode: 0o755 });
    const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: source, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    const bytes = readFileSync(join(dir, file));
    const tarball = `/${pkg.name}/-/${file}`;
    tarballs.set(tarball, bytes);
    return { pkg, tarball, bytes };
  });
  const requests: string[] = [];
  let url = '';
  const server = await serveOnLoopback((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://registry').pathname);
    requests.push(path);
    const tarball = tarballs.get(path);
    if (tarball) return void response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tarball);
    const versions = built.filter(({ pkg }) => `/${pkg.name}` === path);
    if (versions.length === 0) return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    const packument = {
      name: versions[0]!.pkg.name,
      'dist-tags': { latest: versions.at(-1)!.pkg.version },
      versions: Object.fromEntries(
        versions.map(({ pkg, tarball, bytes }) => [
          pkg.version,
          {
            name: pkg.name,
            version: pkg.version,
            bin: pkg.bin,
            scripts: pkg.scripts,
            dist: {
              tarball: `${url}${tarball}`,
              shasum: createHash('sha1').update(bytes).digest('hex'),
              integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
            },
          },
        ]),
      ),
    };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument));
  });
  url = server.origin;
  return {
    url,
    requests,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
