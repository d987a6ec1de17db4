/** Resolves after `ms` milliseconds (polling loops and deliberate pauses in the process and server tests). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
