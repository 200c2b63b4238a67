/**
 * What the dense sweep knows before it evaluates a row (src/engine/sweep/denseSweep.ts, step 3): per site layer, how
 * far zeroing each unit can lower each gap z_t − z_c (gapGains), that bound against each sample's room (ratio,
 * reach), the singles' exact gaps and outcomes, and the pair candidates they leave.
 */
import type { DenseChain } from "../../onnx/chain.js";
import type { DenseIntact, LayerBounds, PairRows } from "./types.js";

/**
 * Bound on a layer's single gaps and on its pair candidate lists (bytes each). Beyond it (large layers on large data
 * sets), pairs are pruned by their summed bounds alone: slower, as exact.
 */
export const PAIR_BYTES = 512 * 2 ** 20;

/**
 * The bounds of a site layer, computed once per intact pass. The gains and ratios are computed on first use: a sweep
 * with loss evaluates every active row and needs only which units are active (ACTIVE lists, from the values).
 */
export function layerBounds(chain: DenseChain, siteLayer: number, intact: DenseIntact): LayerBounds {
  const cached = intact.bounds.get(siteLayer);
  if (cached) return cached;
  const k = chain.layers[chain.layers.length - 1].out;
  const units = chain.layers[siteLayer].out;
  let measured: Pick<LayerBounds, "byUnit" | "ratio" | "reach"> | null = null;
  const measure = () => {
    if (measured) return measured;
    const gain = gapGains(chain, siteLayer);
    const byUnit = new Float64Array(gain.length);
    for (let t = 0; t < k; t++) for (let c = 0; c < k; c++) for (let u = 0; u < units; u++) byUnit[(t * units + u) * k + c] = gain[(t * k + c) * units + u];
    return (measured = { byUnit, ...ratiosOf(byUnit, intact.pre[siteLayer], intact, k, units) });
  };
  const values = intact.pre[siteLayer];
  let unitMajor: Float32Array | null = null;
  const bounds: LayerBounds = {
    get activeByUnit() {
      if (unitMajor) return unitMajor;
      const n = intact.n;
      unitMajor = new Float32Array(units * n);
      // In tiles of 16 samples: their rows stay in cache while each unit's 16 values are written side by side.
      for (let s0 = 0; s0 < n; s0 += 16) {
        const end = Math.min(n, s0 + 16);
        for (let u = 0; u < units; u++) {
          const to = u * n;
          for (let s = s0; s < end; s++) {
            const v = values[s * units + u];
            // max(0, v), NaN kept (Math.max's answer) without its call.
            unitMajor[to + s] = v > 0 || v !== v ? v : 0;
          }
        }
      }
      return unitMajor;
    },
    get byUnit() {
      return measure().byUnit;
    },
    get ratio() {
      return measure().ratio;
    },
    get reach() {
      return measure().reach;
    },
    values,
    lists: new Map(),
    singles: new Map(),
    singleLosses: null,
    singleLossSums: null,
    lossUnits: new Set(),
    singleGaps: null,
    gapUnits: new Set(),
    singleMargins: null,
  };
  intact.bounds.set(siteLayer, bounds);
  return bounds;
}

/**
 * gain[(t·k + c)·units + u]: per unit of activation of `siteLayer`'s unit u, an upper bound on how far zeroing it
 * lowers the gap z_t − z_c (0 when it cannot lower it). Where the site feeds the output layer this is exact:
 * W_out[t,u] − W_out[c,u]. Earlier, interval propagation: a ReLU moves its output by s·Δ for some slope s in [0, 1]
 * (it is monotone and 1-Lipschitz), so the change of each later layer lies in a box, [min(0, lo), max(0, hi)] after
 * a ReLU; the last hidden box meets W_out[t] − W_out[c] with its signs. The box of a set of units is within the sum of
 * their boxes (the same slopes apply to every input), so the bounds of a set's units add up.
 */
export function gapGains(chain: DenseChain, siteLayer: number): Float64Array {
  const layers = chain.layers;
  const last = layers.length - 1;
  const out = layers[last];
  const k = out.out;
  const units = layers[siteLayer].out;
  // lo/hi[j·units + u]: the box of the change of the last hidden layer's unit j per unit of site unit u's activation.
  let width = units;
  let lo = new Float64Array(units * units);
  let hi = new Float64Array(units * units);
  for (let u = 0; u < units; u++) lo[u * units + u] = hi[u * units + u] = -1;
  for (let l = siteLayer + 1; l < last; l++) {
    const layer = layers[l];
    const nextLo = new Float64Array(layer.out * units);
    const nextHi = new Float64Array(layer.out * units);
    for (let o = 0; o < layer.out; o++) {
      for (let i = 0; i < width; i++) {
        const w = layer.weight[o * layer.in + i];
        if (w === 0) continue;
        const [a, b] = w > 0 ? [lo, hi] : [hi, lo];
        for (let u = 0; u < units; u++) {
          nextLo[o * units + u] += w * a[i * units + u];
          nextHi[o * units + u] += w * b[i * units + u];
        }
      }
    }
    // ReLU: the output moves by a fraction in [0, 1] of the input's move, so 0 is always in the box.
    for (let i = 0; i < nextLo.length; i++) {
      nextLo[i] = Math.min(0, nextLo[i]);
      nextHi[i] = Math.max(0, nextHi[i]);
    }
    lo = nextLo;
    hi = nextHi;
    width = layer.out;
  }
  const gain = new Float64Array(k * k * units);
  for (let t = 0; t < k; t++) {
    for (let c = 0; c < k; c++) {
      if (c === t) continue;
      const row = (t * k + c) * units;
      for (let j = 0; j < width; j++) {
        const d = out.weight[t * width + j] - out.weight[c * width + j];
        if (d === 0) continue;
        // The gap moves by d·Δh_j; its largest fall is −d·lo (d > 0) or −d·hi (d < 0).
        const box = d > 0 ? lo : hi;
        for (let u = 0; u < units; u++) gain[row + u] -= d * box[j * units + u];
      }
      for (let u = 0; u < units; u++) gain[row + u] = Math.max(0, gain[row + u]);
    }
  }
  return gain;
}

/**
 * LayerBounds.pairs, among the `wanted` units. Per sample, the active units in order, so that each unit meets only a prefix of the later ones:
 * with single gaps, in ascending order of single margin (a pair can flip the sample only if each unit's reach covers
 * the other's single margin, so unit i stops at the first later unit whose margin its reach misses); without, the
 * units of ratio ≥ ½ first (a pair's ratios must sum to ≥ 1, so one of them is), each meeting every later unit. The
 * survivors pass the ratio sum and the per-class test of canFlip.
 */
export function candidatePairs(bounds: LayerBounds, intact: DenseIntact, values: Float32Array, k: number, units: number, wanted: Uint8Array): PairRows | null {
  if (units * units * 4 > PAIR_BYTES) return null;
  const { ratio, reach, byUnit } = bounds;
  const margins = bounds.singleMargins;
  const gaps = bounds.singleGaps;
  const { room, predictions, n } = intact;
  let found = new Int32Array(1 << 20);
  let size = 0;
  const order = new Int32Array(units);
  for (let s = 0; s < n; s++) {
    const at = s * units;
    let active = 0;
    for (let u = 0; u < units; u++) if (values[at + u] > 0 && wanted[u] === 1) order[active++] = u;
    // Without margins, the units of ratio ≥ ½ first (a pair needs one), the rest after them in any order.
    let big = 0;
    if (!margins) {
      for (let x = 0; x < active; x++) {
        if (ratio[at + order[x]] >= 0.5) {
          const u = order[x];
          order[x] = order[big];
          order[big++] = u;
        }
      }
    }
    const sorted = margins ? order.subarray(0, active).sort((a, b) => margins[at + a] - margins[at + b]) : order;
    const t = predictions[s];
    for (let x = 0; x < active; x++) {
      const i = sorted[x];
      const reachI = reach[at + i];
      const marginI = margins ? margins[at + i] : 0;
      const ratioI = ratio[at + i];
      if (!margins && x >= big) break;
      // Each pair once, from its earlier unit.
      for (let y = x + 1; y < active; y++) {
        const j = sorted[y];
        if (margins) {
          if (margins[at + j] > reachI) break;
          if (reach[at + j] < marginI || ratioI + ratio[at + j] < 1) continue;
        } else if (ratioI + ratio[at + j] < 1) continue;
        // canFlip for two units: some class whose room both bounds reach, and each bound reaches the other's single gap.
        const gi = (t * units + i) * k;
        const gj = (t * units + j) * k;
        const si = (at + i) * k;
        const sj = (at + j) * k;
        const hi = values[at + i] * (1 + 1e-6);
        const hj = values[at + j] * (1 + 1e-6);
        let c = 0;
        for (; c < k; c++) {
          const bi = hi * byUnit[gi + c];
          const bj = hj * byUnit[gj + c];
          // room is Infinity at c = t. The single gaps carry their slack; NaN (not evaluated) passes.
          if (bi + bj >= room[s * k + c] && (!gaps || (!(bi < gaps[sj + c]) && !(bj < gaps[si + c])))) break;
        }
        if (c === k) continue;
        if (size + 2 > found.length) {
          if (found.length * 8 > PAIR_BYTES) return null;
          const grown = new Int32Array(found.length * 2);
          grown.set(found);
          found = grown;
        }
        found[size++] = i < j ? i * units + j : j * units + i;
        found[size++] = s;
      }
    }
  }
  // Counting sort by pair; samples stay ascending within each pair.
  const offsets = new Int32Array(units * units + 1);
  for (let r = 0; r < size; r += 2) offsets[found[r] + 1]++;
  for (let p = 0; p < units * units; p++) offsets[p + 1] += offsets[p];
  const fill = offsets.slice(0, units * units);
  const samples = new Int32Array(size / 2);
  for (let r = 0; r < size; r += 2) samples[fill[found[r]]++] = found[r + 1];
  return { offsets, samples };
}

/** LayerBounds.singleMargins from LayerBounds.singleGaps ([rows × k]). */
export function marginsOf(gaps: Float32Array, rows: number, k: number): Float32Array {
  const margins = new Float32Array(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    let min = Infinity;
    for (let c = 0; c < k; c++) min = Math.min(min, gaps[r * k + c]);
    // NaN (not evaluated) stays −Infinity: it prunes nothing.
    if (min === min) margins[r] = min;
  }
  return margins;
}

/**
 * LayerBounds.ratio and LayerBounds.reach from the gains (LayerBounds.byUnit), rounded up (× (1 + 1e-6)); float32 halves the memory the
 * pair checks walk, and the rounding up keeps each a bound.
 */
function ratiosOf(byUnit: Float64Array, values: Float32Array, intact: DenseIntact, k: number, units: number): { ratio: Float32Array; reach: Float32Array } {
  const { room, n, predictions } = intact;
  // Per (t, u): the largest gain over classes, so reach needs no loop and the ratio a cheap upper bound first.
  const maxGain = new Float64Array(k * units);
  for (let i = 0; i < k * units; i++) for (let c = 0; c < k; c++) maxGain[i] = Math.max(maxGain[i], byUnit[i * k + c]);
  const ratio = new Float32Array(n * units);
  const reach = new Float32Array(n * units);
  const inverse = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    const t = predictions[s];
    // Where some gap has no room left, any active unit may flip the sample.
    let open = true;
    let maxInverse = 0;
    for (let c = 0; c < k; c++) {
      const r = room[s * k + c];
      if (r <= 0) open = false;
      inverse[c] = c === t ? 0 : 1 / r;
      if (inverse[c] > maxInverse) maxInverse = inverse[c];
    }
    for (let u = 0; u < units; u++) {
      const h = values[s * units + u];
      if (!(h > 0)) continue;
      const gain = maxGain[t * units + u];
      reach[s * units + u] = h * gain * (1 + 1e-6);
      if (!open) {
        ratio[s * units + u] = Infinity;
        continue;
      }
      // The bound with the largest gain over the smallest room is kept where it stays below ¼ (only conditions of
      // more than four units look that low); above, the class-by-class ratio.
      let max = gain * maxInverse;
      if (h * max >= 0.25) {
        const at = (t * units + u) * k;
        max = 0;
        for (let c = 0; c < k; c++) max = Math.max(max, byUnit[at + c] * inverse[c]);
      }
      // Active units keep a ratio > 0 even where the bound is 0, so "ratio > 0" means "active".
      ratio[s * units + u] = Math.max(h * max * (1 + 1e-6), 1e-30);
    }
  }
  return { ratio, reach };
}

/**
 * The threshold of unitLists that lists the samples where each unit is active: every active unit's ratio is at least
 * 1e-30 (ratiosOf), every inactive one's 0.
 */
export const ACTIVE = 1e-30;

/**
 * Per unit, the ascending samples whose bound ratio is ≥ threshold (cached per threshold); at ACTIVE, where the unit is
 * active, read from the values without computing the ratios.
 */
export function unitLists(bounds: LayerBounds, units: number, n: number, threshold: number): Int32Array[] {
  const cached = bounds.lists.get(threshold);
  if (cached) return cached;
  const active = threshold <= ACTIVE;
  // x > 0 on the values (NaN fails), x ≥ threshold on the ratios: as one test, x ≥ the smallest float above 0.
  const keep = active ? bounds.values : bounds.ratio;
  const at = active ? Number.MIN_VALUE : threshold;
  // Without branches on the data (whether a unit is active is close to a coin flip: branches mispredicted half the
  // time, 2.3× slower; V8 compiles Number(a >= b) without one, not a ternary): counted, then each sample written
  // always and its list's end moved where it is kept, into one buffer with a spare slot after each list for the
  // writes that are not kept.
  const counts = new Int32Array(units);
  for (let s = 0; s < n; s++) {
    const row = s * units;
    for (let u = 0; u < units; u++) counts[u] += Number(keep[row + u] >= at);
  }
  const starts = new Int32Array(units + 1);
  for (let u = 0; u < units; u++) starts[u + 1] = starts[u] + counts[u] + 1;
  const buffer = new Int32Array(starts[units]);
  const ends = starts.slice(0, units);
  for (let s = 0; s < n; s++) {
    const row = s * units;
    for (let u = 0; u < units; u++) {
      buffer[ends[u]] = s;
      ends[u] += Number(keep[row + u] >= at);
    }
  }
  const lists = Array.from(counts, (c, u) => buffer.subarray(starts[u], starts[u] + c));
  bounds.lists.set(threshold, lists);
  return lists;
}
