import { MemorySessionLog } from '../../src/session/memory.ts';
import { describeSessionLogConformance } from '../../src/session/conformance.ts';

describeSessionLogConformance({
  name: 'memory',
  open: async () => new MemorySessionLog(),
});
