/** bootstrapGains: point estimates and intervals against hand-derived cases and the normal approximation. */
import { describe, expect, it } from "vitest";
import { bootstrapGains } from "../../src/transplant/transplantStats.js";
import { random } from "../helpers.js";

describe("bootstrapGains", () => {
  it("bootstrapGains(before all wrong, after all right) is a gain of exactly 1 with a degenerate interval", () => {
    const labels = Int32Array.from({ length: 50 }, (_, i) => i % 5);
    const { gains } = bootstrapGains({ labels, target: 2, before: new Uint8Array(50), after: [[new Uint8Array(50).fill(1)]], differences: [], resamples: 100, level: 0.95, seed: 0 });
    for (const key of ["overall", "target", "others"] as const) expect(gains[0][key]).toEqual({ estimate: 1, low: 1, high: 1 });
  });

  it("bootstrapGains: estimates are the hand-counted accuracy differences; a paired difference of identical conditions is exactly 0", () => {
    // 10 images, class 1 at 0..3: before right on 0, 4, 5; after right on 0, 1, 2, 4.
    const labels = Int32Array.from([1, 1, 1, 1, 0, 0, 0, 2, 2, 2]);
    const before = Uint8Array.from([1, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
    const after = Uint8Array.from([1, 1, 1, 0, 1, 0, 0, 0, 0, 0]);
    const { gains, differences } = bootstrapGains({ labels, target: 1, before, after: [[after], [after]], differences: [[0, 1]], resamples: 200, level: 0.9, seed: 3 });
    expect(gains[0].overall.estimate).toBeCloseTo(4 / 10 - 3 / 10, 12);
    expect(gains[0].target!.estimate).toBeCloseTo(3 / 4 - 1 / 4, 12);
    expect(gains[0].others!.estimate).toBeCloseTo(1 / 6 - 2 / 6, 12);
    expect(differences[0].overall).toEqual({ estimate: 0, low: 0, high: 0 });
  });

  it("bootstrapGains: the 95 % interval of an unpaired coin-flip gain is ±1.96·√(2·p(1−p)/n) (normal approximation, within 15 %)", () => {
    const n = 4000;
    const rand = random(9);
    const labels = new Int32Array(n);
    const before = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0));
    const after = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0));
    const { gains } = bootstrapGains({ labels, target: null, before, after: [[after]], differences: [], resamples: 1000, level: 0.95, seed: 1 });
    const half = (gains[0].overall.high - gains[0].overall.low) / 2;
    expect(half / (1.96 * Math.sqrt((2 * 0.25) / n))).toBeGreaterThan(0.85);
    expect(half / (1.96 * Math.sqrt((2 * 0.25) / n))).toBeLessThan(1.15);
    expect(gains[0].target).toBeNull();
  });
});
