/**
 * The closed-form loss where the site feeds the output layer, against the plain definition: per row the new logits
 * z − Σ_u h_u·W_out[:,u] and their softmax cross-entropy, summed in float64 over every sample.
 */
import { describe, expect, it } from "vitest";
import { closedFormLoss } from "../../src/engine/sweep/closedFormLoss.js";
import type { PairLossCache } from "../../src/engine/sweep/types.js";
import { random } from "../helpers.js";

function crossEntropy(z: number[], label: number): number {
  const max = Math.max(...z);
  return Math.log(z.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max - z[label];
}

/** Σ over samples of (ablated − intact) cross-entropy, row by row from the definition. */
function referenceDelta(logits: Float32Array, values: Float32Array, weight: Float64Array, labels: Int32Array, units: number[], k: number, width: number): number {
  const n = labels.length;
  let delta = 0;
  for (let s = 0; s < n; s++) {
    const z = Array.from(logits.subarray(s * k, (s + 1) * k));
    const ablated = z.map((v, c) => v - units.reduce((sum, u) => sum + Math.max(0, values[s * width + u]) * weight[c * width + u], 0));
    delta += crossEntropy(ablated, labels[s]) - crossEntropy(z, labels[s]);
  }
  return delta;
}

function problem(scale: number, k = 5) {
  const rand = random(11);
  const n = 300;
  const width = 9;
  // About half the units active per sample (pre-activations around 0).
  const values = Float32Array.from({ length: n * width }, () => rand() * 2 - 1);
  const weight = Float64Array.from({ length: k * width }, () => (rand() * 2 - 1) * scale);
  const logits = Float32Array.from({ length: n * k }, () => (rand() * 2 - 1) * 4);
  const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * k));
  return { n, k, width, values, weight, logits, labels };
}

describe("closedFormLoss", () => {
  // k = 10 takes the unrolled pair loop (MNIST, CIFAR-10), other k the general one. Scale 8 moves the pair products
  // past 1e±250 within the 300 samples (folded into logarithms between samples), scale 600 past 1e±200 within one
  // sample (the loop that checks every row).
  for (const [k, scale] of [[5, 1], [5, 60], [10, 1], [10, 8], [10, 600]]) {
    it(`closedFormLoss(singles, every pair in either order, triples; k = ${k}, W_out scaled ${scale}) equals the row-by-row cross-entropy`, () => {
      const { width, values, weight, logits, labels } = problem(scale, k);
      const conditions: number[][] = [];
      for (let u = 0; u < width; u++) conditions.push([u]);
      for (let i = 0; i < width; i++) for (let j = i + 1; j < width; j++) conditions.push(j % 2 === 0 ? [j, i] : [i, j]);
      conditions.push([0, 3, 5], [1, 2, 7, 8]);
      const cache: PairLossCache = { units: null, singles: null, pairs: null };
      const { deltas, rows } = closedFormLoss({ logits, values, weight, labels, conditions, k, units: width, cache });
      conditions.forEach((units, c) => {
        const expected = referenceDelta(logits, values, weight, labels, units, k, width);
        expect(Math.abs(deltas[c] - expected), `units ${units}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
      });
      expect(rows).toBeGreaterThan(0);
      // A later call for pairs and singles of the same units (the next block of a sweep) reuses the sums.
      const again = closedFormLoss({ logits, values, weight, labels, conditions: conditions.slice(0, width + 5), k, units: width, cache });
      expect(again.rows).toBe(0);
      expect(Array.from(again.deltas)).toEqual(Array.from(deltas.subarray(0, width + 5)));
      // A few pairs (fewer than their units) go condition by condition: the same values.
      const few = [[1, 4], [6, 2]];
      const apart = closedFormLoss({ logits, values, weight, labels, conditions: few, k, units: width });
      few.forEach((units, c) => expect(Math.abs(apart.deltas[c] - referenceDelta(logits, values, weight, labels, units, k, width))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(apart.deltas[c]))));
      // Every single and three pairs among three units: the pair loop computes only the pairs asked for.
      const some = [...conditions.slice(0, width), [0, 1], [2, 1], [0, 2]];
      const mixed = closedFormLoss({ logits, values, weight, labels, conditions: some, k, units: width });
      some.forEach((units, c) => expect(Math.abs(mixed.deltas[c] - referenceDelta(logits, values, weight, labels, units, k, width)), `units ${units}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(mixed.deltas[c]))));
    });
  }

  it("closedFormLoss: a later block whose pairs the cache holds computes only the singles it lacks (a resumed sweep)", () => {
    const { width, values, weight, logits, labels, k } = problem(1, 10);
    const cache: PairLossCache = { units: null, singles: null, pairs: null };
    const first: number[][] = [];
    for (let i = 3; i < width; i++) for (let j = i + 1; j < width; j++) first.push([i, j]);
    closedFormLoss({ logits, values, weight, labels, conditions: first, k, units: width, cache });
    const next = [[3, 4], [8, 5], ...Array.from({ length: width }, (_, u) => [u])];
    const { deltas, rows } = closedFormLoss({ logits, values, weight, labels, conditions: next, k, units: width, cache });
    next.forEach((units, c) => {
      const expected = referenceDelta(logits, values, weight, labels, units, k, width);
      expect(Math.abs(deltas[c] - expected), `units ${units}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
    });
    let active = 0;
    for (let s = 0; s < labels.length; s++) for (let u = 0; u < 3; u++) if (values[s * width + u] > 0) active++;
    expect(rows).toBe(active);
  });

  it("closedFormLoss of a unit that is never active is 0", () => {
    const { k, width, weight, logits, labels, n } = problem(1);
    const values = new Float32Array(n * width).fill(-1);
    const { deltas } = closedFormLoss({ logits, values, weight, labels, conditions: [[0], [0, 1], [0, 1, 2]], k, units: width });
    expect(Array.from(deltas)).toEqual([0, 0, 0]);
  });
});
