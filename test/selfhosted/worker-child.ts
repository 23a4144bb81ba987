/**
 * The official SDK's EnvironmentWorker, unmodified, as a user would start it on their own machine:
 * it polls oma for work with an environment key and runs the session's tools in WORKDIR with the
 * SDK's own toolset. Settings come from the environment (what a test sets).
 */
import Anthropic from '@anthropic-ai/sdk';

const { OMA_URL, ANTHROPIC_ENVIRONMENT_ID, ANTHROPIC_ENVIRONMENT_KEY, WORKDIR, WORKER_ID } = process.env;
if (!OMA_URL || !ANTHROPIC_ENVIRONMENT_ID || !ANTHROPIC_ENVIRONMENT_KEY || !WORKDIR) throw new Error('OMA_URL, ANTHROPIC_ENVIRONMENT_ID, ANTHROPIC_ENVIRONMENT_KEY and WORKDIR are required');

const client = new Anthropic({ baseURL: OMA_URL, apiKey: null, authToken: ANTHROPIC_ENVIRONMENT_KEY });
const worker = client.beta.environments.work.worker({
  environmentId: ANTHROPIC_ENVIRONMENT_ID,
  environmentKey: ANTHROPIC_ENVIRONMENT_KEY,
  workdir: WORKDIR,
  workerId: WORKER_ID,
  maxIdleMs: Number(process.env.MAX_IDLE_MS ?? 60_000),
  memorySyncIntervalMs: null,
});
console.log(`worker ${WORKER_ID ?? process.pid} polling ${ANTHROPIC_ENVIRONMENT_ID}`);
await worker.run();
