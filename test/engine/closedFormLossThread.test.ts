/**
 * The closed-form loss of a pairs sweep computed in worker threads, the samples split between them
 * (closedFormLossThread.ts), gives the row-by-row cross-entropy and fills the caller's cache. The workers exist only in
 * the compiled build: this test loads dist/ (built by `npm test`), as the command line does.
 */
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import type * as Thread from "../../src/engine/sweep/closedFormLossThread.js";
import type { PairLossCache } from "../../src/engine/sweep/types.js";
import { random } from "../helpers.js";

const { closedFormLossBeside } = (await import(new URL("../../dist/engine/sweep/closedFormLossThread.js", import.meta.url).href)) as typeof Thread;

function crossEntropy(z: number[], label: number): number {
  const max = Math.max(...z);
  return Math.log(z.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max - z[label];
}

describe("closedFormLossBeside", () => {
  it("computes every pair's loss of a 12-unit site in worker threads (a share of the samples each), equal to the row-by-row cross-entropy, and fills the cache", async () => {
    const rand = random(5);
    const [n, k, width] = [600, 10, 12];
    const values = Float32Array.from({ length: n * width }, () => rand() * 2 - 1);
    const weight = Float64Array.from({ length: k * width }, () => (rand() * 2 - 1) * 3);
    const logits = Float32Array.from({ length: n * k }, () => (rand() * 2 - 1) * 4);
    const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * k));
    const conditions: number[][] = [];
    for (let i = 0; i < width; i++) for (let j = i + 1; j < width; j++) conditions.push([i, j]);
    const cache: PairLossCache = { units: null, singles: null, pairs: null };
    const pending = closedFormLossBeside({ logits, values, weight, labels, conditions, k, units: width, cache });
    // One per core but the caller's (up to 4, at least one), 256 samples or more each.
    expect(pending.threads).toBe(Math.min(4, Math.max(1, availableParallelism() - 1), 2));
    const { deltas } = await pending.wait();
    conditions.forEach(([i, j], c) => {
      let expected = 0;
      for (let s = 0; s < n; s++) {
        const z = Array.from(logits.subarray(s * k, (s + 1) * k));
        const ablated = z.map((v, x) => v - Math.max(0, values[s * width + i]) * weight[x * width + i] - Math.max(0, values[s * width + j]) * weight[x * width + j]);
        expected += crossEntropy(ablated, labels[s]) - crossEntropy(z, labels[s]);
      }
      expect(Math.abs(deltas[c] - expected), `pair ${i},${j}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
    });
    // The shares' sums came back: the next block of the sweep computes nothing, here.
    expect(cache.pairs).not.toBeNull();
    const again = closedFormLossBeside({ logits, values, weight, labels, conditions: conditions.slice(0, 70), k, units: width, cache });
    expect(again.threads).toBe(0);
    expect((await again.wait()).rows).toBe(0);
  });
});
