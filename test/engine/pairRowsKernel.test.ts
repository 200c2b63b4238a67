/**
 * The WebAssembly kernel of the closed-form pair loss (pairRowsKernel.ts, pairRows.wat) against the plain definitions
 * computed here in JS: exp as Math.exp, the factors a = f/G, b = p·f/G, G = Σ p·f, and the pair products. That the
 * whole loss equals the row-by-row cross-entropy is closedFormLoss.test.ts (k = 10 runs this kernel).
 */
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pairRowsKernel } from "../../src/engine/sweep/pairRowsKernel.js";
import { random } from "../helpers.js";

/** |x − y| in units of the last place of y (0 when both are the same infinity or both NaN). */
function ulps(x: number, y: number): number {
  if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) return 0;
  const spacing = Math.max(Number.MIN_VALUE, Math.abs(y) * Number.EPSILON);
  return Math.abs(x - y) / spacing;
}

describe("pairRowsKernel", () => {
  it("the committed pairRowsWasm.ts is pairRows.wat assembled (npm run build:wasm)", async () => {
    const script = (await import(new URL("../../scripts/wasm.mjs", import.meta.url).href)) as { wasmModuleSource(path: string): Promise<string> };
    const wat = fileURLToPath(new URL("../../src/engine/sweep/pairRows.wat", import.meta.url));
    expect(await script.wasmModuleSource(wat)).toBe(readFileSync(wat.replace(/\.wat$/, "Wasm.ts"), "utf8"));
  });

  it("factors: exp(x) within 1 ulp of Math.exp from −800 to 800 (0 and +Infinity beyond the range), NaN stays NaN", () => {
    const kernel = pairRowsKernel(1)!;
    const rand = random(5);
    const xs = [
      ...Array.from({ length: 4000 }, () => (rand() * 2 - 1) * 800),
      ...Array.from({ length: 2000 }, () => (rand() * 2 - 1) * 2),
      ...[-746, -745.2, -744, -708.4, -1e-20, 0, 1e-300, 0.34657359, 0.5, 1.0397207708, 709.78, 709.79, 710, 1e6, -1e6],
    ];
    kernel.probabilities.fill(0);
    kernel.probabilities[0] = 1;
    kernel.active[0] = 0;
    kernel.activations[0] = 1;
    let worst = 0;
    for (const x of xs) {
      // One class with probability 1: G = p_0·exp(−h·w_0) = exp(x) for h = 1, w_0 = −x.
      kernel.columns.fill(0);
      kernel.columns[0] = -x;
      kernel.factors(1);
      worst = Math.max(worst, ulps(kernel.sums[0], Math.exp(x)));
    }
    expect(worst).toBeLessThanOrEqual(1);
    kernel.columns[0] = Number.NaN;
    kernel.factors(1);
    expect(kernel.sums[0]).toBeNaN();
    expect(kernel.bounds[0]).toBeNaN();
  });

  it("factors and run equal their definitions on random units, activations and probabilities", () => {
    const units = 13;
    const kernel = pairRowsKernel(units)!;
    const rand = random(9);
    for (let i = 0; i < units * 10; i++) kernel.columns[i] = (rand() * 2 - 1) * 3;
    const p = Array.from({ length: 10 }, () => rand() + 0.01);
    const total = p.reduce((s, v) => s + v, 0);
    p.forEach((v, c) => (kernel.probabilities[c] = v / total));
    const expected = new Float64Array(units * units).fill(1);
    for (let sample = 0; sample < 20; sample++) {
      const active = Array.from({ length: units }, (_, u) => u).filter(() => rand() < 0.7);
      const h = active.map(() => rand() * 4);
      active.forEach((u, x) => ((kernel.active[x] = u), (kernel.activations[x] = h[x])));
      kernel.factors(active.length);
      const a: number[][] = [];
      const b: number[][] = [];
      let low = Infinity;
      let high = 0;
      active.forEach((u, x) => {
        const f = Array.from({ length: 10 }, (_, c) => Math.exp(-h[x] * kernel.columns[u * 10 + c]));
        const g = f.reduce((s, v, c) => s + kernel.probabilities[c] * v, 0);
        expect(ulps(kernel.sums[x], g)).toBeLessThanOrEqual(8);
        a.push(f.map((v) => v / g));
        b.push(f.map((v, c) => (kernel.probabilities[c] * v) / g));
        for (let c = 0; c < 10; c++) {
          expect(ulps(kernel.a[x * 10 + c], a[x][c])).toBeLessThanOrEqual(8);
          expect(ulps(kernel.b[x * 10 + c], b[x][c])).toBeLessThanOrEqual(8);
          low = Math.min(low, a[x][c]);
          high = Math.max(high, a[x][c]);
        }
      });
      expect(ulps(kernel.bounds[0], low)).toBeLessThanOrEqual(8);
      expect(ulps(kernel.bounds[1], high)).toBeLessThanOrEqual(8);
      kernel.run(active.length);
      for (let x = 0; x < active.length; x++) {
        for (let y = x + 1; y < active.length; y++) expected[active[x] * units + active[y]] *= b[x].reduce((s, v, c) => s + v * a[y][c], 0);
      }
    }
    let worst = 0;
    for (let i = 0; i < units * units; i++) worst = Math.max(worst, ulps(kernel.products[i], expected[i]));
    // 20 samples' products, each factor within a few ulps.
    expect(worst).toBeLessThanOrEqual(200);
    // Pairs never both active keep their 1; the diagonal and the lower triangle of the active order are never touched.
    expect(kernel.products[0]).toBe(1);
  });
});
