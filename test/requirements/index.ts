import { agentsRequirements } from './agents.ts';
import { brainRequirements } from './brain.ts';
import { contextRequirements } from './context.ts';
import { crashRequirements } from './crash.ts';
import { credentialsRequirements } from './credentials.ts';
import { selfHostedRequirements } from './selfhosted.ts';
import { handsRequirements } from './hands.ts';
import { securityRequirements } from './security.ts';
import { environmentsRequirements } from './environments.ts';
import { eventsRequirements } from './events.ts';
import { filesRequirements } from './files.ts';
import { httpRequirements } from './http.ts';
import { sessionsRequirements } from './sessions.ts';

/**
 * Every requirement oma's tests must prove, by id. A test cites an id in its name (`[HTTP-3] …`);
 * `test/requirements.test.ts` fails when a requirement is cited by no test. One file per area.
 */
export const requirements: Record<string, string> = {
  ...httpRequirements,
  ...agentsRequirements,
  ...environmentsRequirements,
  ...filesRequirements,
  ...sessionsRequirements,
  ...eventsRequirements,
  ...brainRequirements,
  ...handsRequirements,
  ...securityRequirements,
  ...crashRequirements,
  ...credentialsRequirements,
  ...selfHostedRequirements,
  ...contextRequirements,
};
