/**
 * The loss of zero ablations at a site one hidden ReLU layer before the output layer (hiddenLoss.ts, hiddenRows.wat,
 * through closedFormLoss and denseSweep) against the plain definition: per row the hidden layer's new pre-activations
 * p − Σ_u h_u·W_next[:,u], their ReLU, the new logits z + W_out·(relu(p') − relu(p)) and the softmax cross-entropy,
 * summed in float64 over every sample.
 */
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { closeModel, openModel } from "../../src/engine/model.js";
import { closedFormLoss } from "../../src/engine/sweep/closedFormLoss.js";
import { denseSweep } from "../../src/engine/sweep/denseSweep.js";
import { hiddenLossAvailable } from "../../src/engine/sweep/hiddenLoss.js";
import type { PairLossCache } from "../../src/engine/sweep/types.js";
import { denseChain } from "../../src/onnx/chain.js";
import { denseReference, random, randomMlp } from "../helpers.js";

function crossEntropy(z: number[], label: number): number {
  const max = Math.max(...z);
  return Math.log(z.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max - z[label];
}

interface Problem {
  n: number;
  k: number;
  units: number;
  width: number;
  values: Float32Array;
  next: Float32Array;
  nextWeight: Float64Array;
  weight: Float64Array;
  logits: Float32Array;
  labels: Int32Array;
}

/** Σ over samples of (ablated − intact) cross-entropy, row by row from the definition. */
function referenceDelta(problem: Problem, zeroed: number[]): number {
  const { n, k, units, width, values, next, nextWeight, weight, logits, labels } = problem;
  let delta = 0;
  for (let s = 0; s < n; s++) {
    const z = Array.from(logits.subarray(s * k, (s + 1) * k));
    const ablated = z.slice();
    for (let m = 0; m < width; m++) {
      const p = next[s * width + m];
      let q = p;
      for (const u of new Set(zeroed)) q -= Math.max(0, values[s * units + u]) * nextWeight[m * units + u];
      const change = Math.max(0, q) - Math.max(0, p);
      for (let c = 0; c < k; c++) ablated[c] += weight[c * width + m] * change;
    }
    delta += crossEntropy(ablated, labels[s]) - crossEntropy(z, labels[s]);
  }
  return delta;
}

/** Random cached values: about half the site's units active per sample, hidden pre-activations around 0. */
function problem(units: number, scale: number): Problem {
  const rand = random(units * 7 + scale);
  const n = 200;
  const k = 10;
  const width = 11;
  return {
    n,
    k,
    units,
    width,
    values: Float32Array.from({ length: n * units }, () => rand() * 2 - 1),
    next: Float32Array.from({ length: n * width }, () => (rand() * 2 - 1) * 0.5),
    nextWeight: Float64Array.from({ length: width * units }, () => (rand() * 2 - 1) * 0.6),
    weight: Float64Array.from({ length: k * width }, () => (rand() * 2 - 1) * scale),
    logits: Float32Array.from({ length: n * k }, () => (rand() * 2 - 1) * 4),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * k)),
  };
}

describe("hiddenLoss", () => {
  it("the committed hiddenRowsWasm.ts is hiddenRows.wat assembled (npm run build:wasm)", async () => {
    const script = (await import(new URL("../../scripts/wasm.mjs", import.meta.url).href)) as { wasmModuleSource(path: string): Promise<string> };
    const wat = fileURLToPath(new URL("../../src/engine/sweep/hiddenRows.wat", import.meta.url));
    expect(await script.wasmModuleSource(wat)).toBe(readFileSync(wat.replace(/\.wat$/, "Wasm.ts"), "utf8"));
  });

  // 9 and 12 units: an odd and an even number of active units on most samples (the kernel takes partners two at a
  // time). W_out scaled 40 moves the pair products past 1e±100 (folded into their logarithms).
  for (const [units, scale] of [[9, 1], [12, 1], [12, 40]]) {
    it(`closedFormLoss with a hidden layer (${units} units, W_out scaled ${scale}): singles and every pair equal the row-by-row cross-entropy`, () => {
      expect(hiddenLossAvailable(10, units, 11)).toBe(true);
      const data = problem(units, scale);
      const conditions: number[][] = [];
      for (let u = 0; u < units; u++) conditions.push([u]);
      for (let i = 0; i < units; i++) for (let j = i + 1; j < units; j++) conditions.push(j % 2 === 0 ? [j, i] : [i, j]);
      const cache: PairLossCache = { units: null, singles: null, pairs: null };
      const { values, weight, logits, labels, k } = data;
      const hidden = { next: data.next, weight: data.nextWeight, width: data.width };
      const { deltas, rows } = closedFormLoss({ logits, values, weight, hidden, labels, conditions, k, units, cache });
      let flips = 0;
      conditions.forEach((zeroed, c) => {
        const expected = referenceDelta(data, zeroed);
        const linear = referenceDelta({ ...data, next: data.next.map((p) => (p > 0 ? 1e9 : -1e9)) }, zeroed);
        if (Math.abs(expected - linear) > 1e-6) flips++;
        expect(Math.abs(deltas[c] - expected), `units ${zeroed}`).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(expected)));
      });
      // The conditions flip hidden units' signs (the corrections are exercised), not only move the logits linearly.
      expect(flips).toBeGreaterThan(conditions.length / 2);
      expect(rows).toBeGreaterThan(0);
      // The next block of a sweep reads the sums kept.
      const again = closedFormLoss({ logits, values, weight, hidden, labels, conditions: conditions.slice(units, units + 5), k, units, cache });
      expect(again.rows).toBe(0);
      expect(Array.from(again.deltas)).toEqual(Array.from(deltas.subarray(units, units + 5)));
    });
  }

  it("closedFormLoss with a hidden layer: a later block whose pairs the cache holds computes only the singles it lacks (a resumed sweep)", () => {
    const units = 12;
    const data = problem(units, 1);
    const { values, weight, logits, labels, k } = data;
    const hidden = { next: data.next, weight: data.nextWeight, width: data.width };
    const cache: PairLossCache = { units: null, singles: null, pairs: null };
    // The first block: every pair of units 3..11 (the pairs a resumed sweep has left).
    const first: number[][] = [];
    for (let i = 3; i < units; i++) for (let j = i + 1; j < units; j++) first.push([i, j]);
    closedFormLoss({ logits, values, weight, hidden, labels, conditions: first, k, units, cache });
    // The next: two of those pairs and every single, units 0..2 among them.
    const next = [[3, 4], [9, 5], ...Array.from({ length: units }, (_, u) => [u])];
    const { deltas, rows } = closedFormLoss({ logits, values, weight, hidden, labels, conditions: next, k, units, cache });
    next.forEach((zeroed, c) => expect(Math.abs(deltas[c] - referenceDelta(data, zeroed)), `units ${zeroed}`).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(referenceDelta(data, zeroed)))));
    // Only the rows of units 0..2's singles: no pair row again.
    let active = 0;
    for (let s = 0; s < data.n; s++) for (let u = 0; u < 3; u++) if (values[s * units + u] > 0) active++;
    expect(rows).toBe(active);
  });

  it("denseSweep of every pair at a site before the last hidden layer (k = 10) with loss equals a float64 forward pass, predictions and loss", async () => {
    const sizes = [16, 13, 12, 10];
    const model = await openModel(randomMlp(sizes, 3, [1, 1, sizes[0]]), { name: "mlp" });
    try {
      const chain = denseChain(model.proto)!;
      const rand = random(9);
      const n = 300;
      const inputs = Float32Array.from({ length: n * sizes[0] }, () => rand() * 2 - 1);
      const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 10));
      const conditions: number[][] = [];
      for (let i = 0; i < sizes[1]; i++) for (let j = i + 1; j < sizes[1]; j++) conditions.push([i, j]);
      const sweep = await denseSweep({ model, chain, siteLayer: 0, inputs, labels, conditions, loss: true });
      const intact = denseReference(chain, inputs, labels, -1, []);
      conditions.forEach((units, c) => {
        const expected = denseReference(chain, inputs, labels, 0, units);
        const outcome = sweep.conditions[c];
        const predictions = Int32Array.from(intact.predictions);
        outcome.changed.forEach((s, x) => (predictions[s] = outcome.changedPredictions[x]));
        expect(Array.from(predictions), `units ${units}`).toEqual(Array.from(expected.predictions));
        // The cached intact values are float32: the loss agrees to their precision.
        expect(Math.abs(outcome.lossSum! - expected.lossSum), `units ${units}`).toBeLessThanOrEqual(1e-5 * Math.abs(expected.lossSum));
      });
    } finally {
      await closeModel(model);
    }
  });
});
