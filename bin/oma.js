#!/usr/bin/env node
// oma is written in TypeScript and run through tsx (Node 20 cannot strip types itself).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
