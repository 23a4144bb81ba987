/** Files requirements (spec api-core.md). Tests cite the id in their name: `[ID] …`. */
export const filesRequirements: Record<string, string> = {};
