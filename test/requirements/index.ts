import { httpRequirements } from './http.ts';

/**
 * Every requirement oma's tests must prove, by id. A test cites an id in its name (`[HTTP-3] …`);
 * `test/requirements.test.ts` fails when a requirement is cited by no test. Add an area by adding its
 * file here.
 */
export const requirements: Record<string, string> = {
  ...httpRequirements,
};
