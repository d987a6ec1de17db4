/**
 * Radar's envelope, the one shape of every JSON answer: a result, or null with the errors.
 * @example envelope({ revoked: 1 }) // { success: true, errors: [], messages: [], result: { revoked: 1 } }
 * @example envelope(null, [{ code: 2001, message: 'limit: …' }]) // { success: false, …, result: null }
 */
export function envelope<T>(result: T): { success: true; errors: []; messages: []; result: T };
export function envelope(
  result: null,
  errors: { code: number; message: string }[],
): { success: false; errors: { code: number; message: string }[]; messages: []; result: null };
export function envelope(result: unknown, errors: { code: number; message: string }[] = []) {
  return { success: errors.length === 0, errors, messages: [], result };
}
