/**
 * Records the long session the context tests replay strategies on (`long-session.jsonl.gz`). Run by
 * hand, only when the recording should change:
 *   node --import tsx test/context/record.ts
 */
import { recordLongSession, saveRecorded } from '../../src/testing/long-session.ts';

const file = new URL('long-session.jsonl.gz', import.meta.url).pathname;
const session = await recordLongSession({ turns: 200, turnsPerMessage: 50 });
saveRecorded(file, session);
console.log(`${file}: ${session.events.length} events`);
