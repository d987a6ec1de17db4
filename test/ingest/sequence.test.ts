import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash, MAX_GAP, REORDER_WINDOW, SequenceTracker } from '../../src/ingest/sequence.js';

describe('SequenceTracker', () => {
  it('counts record gaps (v5 / IPFIX: the sequence counts records)', () => {
    const t = new SequenceTracker();
    expect(t.observe('a', 100, 30, 30, -1).lost).toBe(0);
    expect(t.observe('a', 130, 30, 30, -1).lost).toBe(0);
    expect(t.observe('a', 190, 30, 30, -1).lost).toBe(30);
  });

  it('turns datagram gaps into records with the average per datagram (v9 / sFlow)', () => {
    const t = new SequenceTracker();
    t.observe('a', 1, 1, 20, 1000);
    t.observe('a', 2, 1, 20, 2000);
    expect(t.observe('a', 5, 1, 20, 3000).lost).toBe(40);
  });

  it('wraps around 2^32 without a false loss', () => {
    const t = new SequenceTracker();
    t.observe('a', 0xffffffff - 9, 10, 10, -1);
    expect(t.observe('a', 0, 10, 10, -1)).toMatchObject({ lost: 0, restarted: false });
  });

  it('takes back loss when a late datagram arrives inside the reorder window', () => {
    const t = new SequenceTracker();
    t.observe('a', 0, 10, 10, -1);
    expect(t.observe('a', 20, 10, 10, -1).lost).toBe(10);
    expect(t.observe('a', 10, 10, 10, -1)).toMatchObject({ lost: -10, late: true });
    expect(t.observe('a', 30, 10, 10, -1).lost).toBe(0);
  });

  it('recognises a duplicate by sequence number and content, not by sequence number alone', () => {
    const t = new SequenceTracker();
    const d = new Uint8Array([0, 9, 1, 2, 3]);
    t.observe('a', 7, 1, 5, 100, contentHash(d));
    expect(t.isDuplicate('a', 7, contentHash(d))).toBe(true);
    expect(t.isDuplicate('a', 7, contentHash(new Uint8Array([0, 9, 1, 2, 4])))).toBe(false);
    expect(t.isDuplicate('a', 8, contentHash(d))).toBe(false);
    expect(t.isDuplicate('b', 7, contentHash(d))).toBe(false);
  });

  it('hashes the same bytes alike at any offset, and tells a datagram from one changed in any byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1500 }),
        fc.nat(7),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, offset, at, delta) => {
          // The receiving thread aligns datagrams (Int32Array reads); other callers may not (DataView reads).
          const shifted = new Uint8Array(bytes.length + offset);
          shifted.set(bytes, offset);
          const view = shifted.subarray(offset);
          expect(contentHash(view)).toBe(contentHash(bytes));
          if (bytes.length === 0) return;
          const changed = bytes.slice();
          const i = at % bytes.length;
          changed[i] = (changed[i]! + delta) & 255;
          expect(contentHash(changed)).not.toBe(contentHash(bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('sees a restart when uptime goes back, the sequence jumps back past the window, or jumps far ahead', () => {
    const t = new SequenceTracker();
    t.observe('up', 500, 1, 1, 90_000);
    expect(t.observe('up', 501, 1, 1, 5_000).restarted).toBe(true);
    t.observe('back', 100_000, 1, 1, -1);
    expect(t.observe('back', 100_000 - REORDER_WINDOW - 10, 1, 1, -1).restarted).toBe(true);
    t.observe('far', 0, 1, 1, -1);
    expect(t.observe('far', MAX_GAP + 5, 1, 1, -1)).toMatchObject({ restarted: true, lost: 0 });
  });

  it('keeps sources apart', () => {
    const t = new SequenceTracker();
    t.observe('a', 0, 1, 1, -1);
    t.observe('b', 1000, 1, 1, -1);
    expect(t.observe('a', 1, 1, 1, -1).lost).toBe(0);
    expect(t.observe('b', 1001, 1, 1, -1).lost).toBe(0);
  });
});
