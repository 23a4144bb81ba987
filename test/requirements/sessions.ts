/** Sessions requirements (spec api-core.md). Tests cite the id in their name: `[ID] …`. */
export const sessionsRequirements: Record<string, string> = {};
