import { execFileSync } from 'node:child_process';
import { serveOnLoopback } from './loopback.ts';

/**
 * A tiny Python package index on 127.0.0.1 (PEP 503 "simple" pages and wheels), so pip installs are
 * tested with the real pip and no internet. Each package is one pure-Python wheel, built here, with
 * a module `<name>` whose `main()` prints `greeting` and a console script of the package's name.
 */
export interface FakeWheel {
  /** Distribution name, e.g. `oma-hi` (the module is `oma_hi`). */
  name: string;
  version: string;
  greeting: string;
}

export async function startFakePypi(wheels: FakeWheel[]) {
  const files = new Map<string, Buffer>();
  for (const wheel of wheels) {
    const module = wheel.name.replaceAll('-', '_');
    const file = `${module}-${wheel.version}-py3-none-any.whl`;
    files.set(`/simple/${wheel.name}/${file}`, buildWheel(module, wheel));
    files.set(`/simple/${wheel.name}/`, Buffer.from(`<!DOCTYPE html><html><body><a href="${file}">${file}</a></body></html>`));
  }
  const requests: string[] = [];
  const server = await serveOnLoopback((request, response) => {
    const path = new URL(request.url ?? '/', 'http://index').pathname;
    requests.push(path);
    const body = files.get(path) ?? files.get(`${path}/`);
    if (!body) return void response.writeHead(404).end('not found');
    response.writeHead(200, { 'content-type': path.endsWith('.whl') ? 'application/octet-stream' : 'text/html' }).end(body);
  });
  return { url: `${server.origin}/simple`, requests, close: server.close };
}

/** A wheel is a zip with a RECORD of hashes; Python's zipfile writes it (python3 is on every oma host). */
function buildWheel(module: string, wheel: FakeWheel): Buffer {
  const program = String.raw`
import base64, hashlib, io, json, sys, zipfile
module, name, version, greeting = json.loads(sys.argv[1])
info = f"{module}-{version}.dist-info"
files = {
    f"{module}/__init__.py": f"GREETING = {greeting!r}\ndef main():\n    print(GREETING)\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: oma-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{info}/entry_points.txt": f"[console_scripts]\n{name} = {module}:main\n",
}
record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b'=').decode()},{len(body.encode())}" for path, body in files.items()]
files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as archive:
    for path, body in files.items():
        archive.writestr(path, body)
sys.stdout.buffer.write(out.getvalue())
`;
  return execFileSync('python3', ['-c', program, JSON.stringify([module, wheel.name, wheel.version, wheel.greeting])]);
}
