/**
 * The closed-form pair loss's hot loops for k = 10 classes (MNIST, CIFAR-10) in WebAssembly SIMD (pairRows.wat), two
 * float64 lanes per instruction and no bounds checks. Per sample, `factors` computes every active unit's ten
 * exponentials and factors (exp as fdlibm's, the algorithm V8's Math.exp ports: within 1 ulp of it, tested), then
 * `run` multiplies every pair's running product by q_ij = Σ_c b_i,c·a_j,c. On the mlp100x3 h2 pair sweep (23.5 M pair
 * rows, 0.69 M unit rows) the pair rows take ~2 ns each against ~8 ns for the JS loop unrolled for k = 10 that they
 * replace, and the factors ~75 ns per unit row, on this machine. The arithmetic is IEEE float64 as in JS; only the
 * order of additions differs (two lanes of five, then the lanes).
 */
import { PAIR_ROWS_WASM } from "./pairRowsWasm.js";
import { instanceWithMemory, placeArrays } from "./wasmMemory.js";

/** One kernel's working memory, views into its WebAssembly memory: the caller fills a sample's inputs, then calls. */
export interface PairRowsKernel {
  /** [units × 10] W_outᵀ: unit u's ten outgoing weights at u·10. Filled once. */
  columns: Float64Array;
  /** [10] the sample's intact softmax. */
  probabilities: Float64Array;
  /** [units] the sample's active units, then their activations in the same order. */
  active: Int32Array;
  activations: Float64Array;
  /** [units × 10] per active unit x, a_x,c = f_c / G and b_x,c = p_c·f_c / G, f_c = exp(−h·W_out[c,u]). */
  a: Float64Array;
  b: Float64Array;
  /** [units] per active unit, G = Σ_c p_c·f_c. */
  sums: Float64Array;
  /** [2] the smallest and largest a_x,c of the sample (NaN if any is NaN). */
  bounds: Float64Array;
  /** [units × units] running products, row active[x], column active[y] for x < y; starts at 1. */
  products: Float64Array;
  /** Fills a, b, sums and bounds for the first `count` active units. */
  factors(count: number): void;
  /** For every x < y < count: products[active[x]·units + active[y]] *= Σ_c b[x·10 + c]·a[y·10 + c]. */
  run(count: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * A kernel for a site of `units` units, its arrays in a new WebAssembly memory; null where WebAssembly SIMD is not
 * available or the layer is too wide for 32-bit addresses (the caller keeps its JS loops). Throws nothing.
 */
export function pairRowsKernel(units: number): PairRowsKernel | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(PAIR_ROWS_WASM, "base64"));
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  // Every array 16-byte aligned (a and b rows are 80 bytes: five f64x2 loads each).
  const { at, end } = placeArrays({
    columns: units * 80,
    probabilities: 80,
    active: units * 4,
    activations: units * 8,
    a: units * 80,
    b: units * 80,
    sums: units * 8,
    bounds: 16,
    products: units * units * 8,
  });
  if (end > 2 ** 31) return null;
  const { exports: raw, buffer } = instanceWithMemory(compiled, {}, end);
  const exports = raw as unknown as {
    factorsTen(columns: number, active: number, activations: number, probabilities: number, count: number, a: number, b: number, sums: number, bounds: number): void;
    pairRowsTen(a: number, b: number, active: number, count: number, units: number, products: number): void;
  };
  return {
    columns: new Float64Array(buffer, at.columns, units * 10),
    probabilities: new Float64Array(buffer, at.probabilities, 10),
    active: new Int32Array(buffer, at.active, units),
    activations: new Float64Array(buffer, at.activations, units),
    a: new Float64Array(buffer, at.a, units * 10),
    b: new Float64Array(buffer, at.b, units * 10),
    sums: new Float64Array(buffer, at.sums, units),
    bounds: new Float64Array(buffer, at.bounds, 2),
    products: new Float64Array(buffer, at.products, units * units).fill(1),
    factors: (count) => exports.factorsTen(at.columns, at.active, at.activations, at.probabilities, count, at.a, at.b, at.sums, at.bounds),
    run: (count) => exports.pairRowsTen(at.a, at.b, at.active, count, units, at.products),
  };
}
