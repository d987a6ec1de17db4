/**
 * A value loaded at most once per `ttlMs`: callers within the same period share one load (the
 * same promise), the first caller after it starts the next. A failed load is not remembered, so
 * the next call loads again.
 * @example
 * const watermark = refreshedEvery(1000, () => db.query(sql`SELECT max(time) FROM traffic`));
 * await watermark(); // one query a second at most, however many requests ask
 */
export function refreshedEvery<T>(
  ttlMs: number,
  load: () => Promise<T>,
  now: () => number = Date.now,
): () => Promise<T> {
  let value: Promise<T> | undefined;
  let at = Number.NEGATIVE_INFINITY;
  return () => {
    const t = now();
    if (value === undefined || t - at >= ttlMs) {
      at = t;
      const next = load();
      next.catch(() => {
        if (value === next) value = undefined;
      });
      value = next;
    }
    return value;
  };
}
