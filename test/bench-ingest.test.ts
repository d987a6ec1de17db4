import { describe, expect, it } from 'vitest';
import { keepsUp, lossFreeStep, type Step } from '../bench/ingest.js';

/** A step of the ingest benchmark: `asked` records/s asked, `rate` reached, `lost` records not received. */
const step = (asked: number, rate: number, lost = 0, kernelDrops = 0): Step => ({
  asked,
  rate,
  sent: rate * 3,
  received: rate * 3 - lost,
  kernelDrops,
  cpu: 0.5,
  cpuPerM: 0.4,
  rss: 0,
});

describe('the ingest benchmark against nfcapd', () => {
  it('takes a loss-free step by the rate it asked, not the rate the sender reached', () => {
    // The run of 2026-12-07 22:13: both whole at 2.4 M, the sender 0.05 % slower for ours.
    const ours = [step(2_000_000, 1_999_500), step(2_400_000, 2_398_711)];
    const nfcapd = [step(2_000_000, 1_999_900), step(2_400_000, 2_399_854)];
    expect(lossFreeStep(ours)?.asked).toBe(2_400_000);
    expect(keepsUp(ours, nfcapd)).toBe(true);
  });

  it('is missed when ours loses at a step nfcapd takes whole, by records or by kernel drops', () => {
    const nfcapd = [step(2_000_000, 2_000_000), step(2_400_000, 2_400_000)];
    expect(keepsUp([step(2_000_000, 2_000_000), step(2_400_000, 2_400_000, 1)], nfcapd)).toBe(false);
    expect(keepsUp([step(2_000_000, 2_000_000), step(2_400_000, 2_400_000, 0, 3)], nfcapd)).toBe(false);
    expect(lossFreeStep([step(2_000_000, 2_000_000, 5)])).toBeUndefined();
  });

  it('is met when ours is whole above the step nfcapd first loses at, or at one its sender fell short of', () => {
    const ours = [step(3_200_000, 3_200_000), step(4_000_000, 4_000_000), step(4_800_000, 4_800_000, 10)];
    expect(keepsUp(ours, [step(3_200_000, 3_200_000), step(4_000_000, 4_000_000, 0, 10_280)])).toBe(true);
    // nfcapd's sender reached 2.17 of the 2.4 M asked: the same step for both.
    expect(keepsUp([step(2_400_000, 2_400_000)], [step(2_400_000, 2_170_000)])).toBe(true);
  });

  it('has no anchor, so is not met, when nfcapd took no step whole', () => {
    expect(keepsUp([step(100_000, 100_000)], [step(100_000, 100_000, 1)])).toBe(false);
    expect(keepsUp([step(100_000, 100_000)], [])).toBe(false);
  });
});
