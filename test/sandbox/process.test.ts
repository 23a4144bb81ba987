import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { describeSandboxConformance } from '../../src/sandbox/conformance.ts';
import { ProcessProvider } from '../../src/sandbox/process.ts';

const root = mkdtempSync(join(tmpdir(), 'oma-process-'));
after(() => rmSync(root, { recursive: true, force: true }));

// Not isolated by design (development only): the confinement checks do not apply.
describeSandboxConformance({ name: 'process', create: () => new ProcessProvider({ root }), isolated: false });
