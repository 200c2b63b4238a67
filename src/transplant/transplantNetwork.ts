/**
 * The networks of a transplant (src/transplant/transplant.ts): the recipient widened by donor units, and the float64
 * forward pass every accuracy of a transplant is measured with.
 *
 * Merging is a block-diagonal widening, so the merged network stays a chain of dense layers that lesion trains and
 * studies like any other. For a population at the donor's linear layer L (0-based among its linear layers), the
 * recipient's linear layers 0..L are widened by a parallel branch: layers 0..L−1 by every donor unit of that layer
 * (the upstream circuit the population reads from), layer L by the population; the branch reads only from the
 * branch (cross blocks are zero), so its units compute exactly what they computed in the donor. The next linear
 * layer reads the population through new columns that start at zero, so the merged network computes exactly what
 * the recipient computed until those columns are trained. Nothing of the recipient is overwritten.
 */
import { fail } from "../errors.js";
import type { Preprocessing } from "../onnx/metadata.js";
import type { Network, NetworkLayer } from "../onnx/network.js";
import { seeded } from "../random.js";

type Linear = Extract<NetworkLayer, { op: "linear" }>;

/** One merged network: its layers, parameter values, and which parameter entries train (1) or stay frozen (0). */
export interface MergedNetwork {
  network: Network;
  values: Map<string, Float32Array>;
  gradientMasks: Record<string, Float32Array>;
  /** Merged-model unit indices of the new units at the site (the transplanted population). */
  units: number[];
  /** Merged-model unit indices of the upstream branch per earlier linear layer name (empty for a first layer). */
  branch: Array<{ site: string; units: number[]; donorSite: string }>;
}

/** Indices of a network's linear layers, in order. */
export function linearIndices(network: Network): number[] {
  return network.layers.flatMap((l, i) => (l.op === "linear" ? [i] : []));
}

/** The ops of a chain up to layer `end` (inclusive), widths left out: what donor and recipient must share. */
export function opSignature(network: Network, end: number): string[] {
  // Dropout computes nothing at inference, and a Flatten of the image is the flat input (the same pixel order: one
  // layout is checked for both): `lesion import --arch mlp` takes [N, 784], `lesion train` [N, 1, 28, 28] flattened.
  return network.layers.slice(0, end + 1).filter((l) => l.op !== "dropout" && l.op !== "flatten").map((l) => (l.op === "leakyrelu" ? `leakyrelu(${l.alpha})` : l.op));
}

/**
 * Donor weights of the first layer rewritten for the recipient's input normalisation: the donor computes
 * W·(p − m_d)/s_d + b on pixels p, the recipient feeds x = (p − m_r)/s_r, so W' = W·s_r/s_d and
 * b' = b + W·(m_r − m_d)/s_d, per input channel. Identity when both normalise alike.
 */
export function rebaseFirstLayer(weight: Float32Array, bias: Float32Array | null, rows: number[], inputs: number, donor: Preprocessing, recipient: Preprocessing): { weight: Float32Array; bias: Float32Array } {
  const [c, h, w] = recipient.imageShape ?? [1, 1, inputs];
  const channelOf = (i: number) => (recipient.layout === "nhwc" ? i % c : Math.floor(i / (h * w)));
  const at = (values: number[], ch: number) => values[values.length === 1 ? 0 : ch];
  const out = new Float32Array(rows.length * inputs);
  const outBias = new Float32Array(rows.length);
  rows.forEach((row, r) => {
    let shift = bias ? bias[row] : 0;
    for (let i = 0; i < inputs; i++) {
      const ch = channelOf(i);
      const wi = weight[row * inputs + i];
      out[r * inputs + i] = (wi * at(recipient.std, ch)) / at(donor.std, ch);
      shift += (wi * (at(recipient.mean, ch) - at(donor.mean, ch))) / at(donor.std, ch);
    }
    outBias[r] = shift;
  });
  return { weight: out, bias: outBias };
}

/**
 * The incoming weights [m, fanIn] and biases [m] of m fresh units (the fresh-units control): PyTorch's default for
 * nn.Linear, weights kaiming_uniform(a = √5) and biases alike, both U(±1/√fanIn), drawn from Mulberry32 seeded
 * 7919·seed + 17, the weights row by row, then the biases.
 */
export function freshUnits(m: number, fanIn: number, seed: number): { weight: Float32Array; bias: Float32Array } {
  const rand = seeded(seed * 7919 + 17);
  const bound = 1 / Math.sqrt(fanIn);
  const draw = (length: number) => Float32Array.from({ length }, () => (rand() * 2 - 1) * bound);
  const weight = draw(m * fanIn);
  return { weight, bias: draw(m) };
}

export interface MergeOptions {
  recipient: { network: Network; values: Map<string, Float32Array>; preprocessing: Preprocessing };
  /** Index among the recipient's linear layers of the layer widened by the population. */
  depth: number;
  /** New units at the site: incoming weights [m, in] (in = the branch's previous width, else the recipient's) and biases [m]. */
  population: { weight: Float32Array; bias: Float32Array };
  /**
   * Upstream branch per earlier linear layer (depth of them), each [d_j, in_j] weights and biases; empty when the new
   * units read the recipient's previous layer (fresh units).
   */
  branch: Array<{ weight: Float32Array; bias: Float32Array; donorSite: string }>;
  /** Which parameters train: the new outgoing columns only (transplant), also the new units' incoming weights (fresh units), or everything (fine-tuning). */
  train: "outgoing" | "new-units" | "all";
}

/** The recipient with a parallel branch ending in the new units at linear layer `depth`; see the module comment. */
export function mergeNetworks(options: MergeOptions): MergedNetwork {
  const { network, values } = options.recipient;
  const linears = linearIndices(network);
  const depth = options.depth;
  const m = options.population.bias.length;
  const layers = network.layers.map((l) => ({ ...l })) as NetworkLayer[];
  const merged = new Map<string, Float32Array>();
  const masks: Record<string, Float32Array> = {};
  const branch: MergedNetwork["branch"] = [];
  let extraIn = 0; // branch units feeding the current layer
  let units: number[] = [];
  linears.forEach((index, j) => {
    const layer = network.layers[index] as Linear;
    const weight = values.get(`${layer.name}.weight`)!;
    const bias = layer.bias ? values.get(`${layer.name}.bias`)! : null;
    const inR = layer.in;
    const inD = extraIn;
    const added = j < depth ? (options.branch[j]?.bias.length ?? 0) : j === depth ? m : 0;
    const newIn = inR + (j === 0 ? 0 : inD);
    const out = layer.out + added;
    const w = new Float32Array(out * newIn);
    for (let o = 0; o < layer.out; o++) w.set(weight.subarray(o * inR, (o + 1) * inR), o * newIn);
    const source = j < depth ? options.branch[j] : j === depth ? options.population : null;
    if (source) {
      const fromRecipient = j === 0 || options.branch.length === 0;
      const width = fromRecipient ? inR : inD;
      const offset = fromRecipient ? 0 : inR;
      for (let r = 0; r < added; r++) w.set(source.weight.subarray(r * width, (r + 1) * width), (layer.out + r) * newIn + offset);
    }
    const b = new Float32Array(out);
    if (bias) b.set(bias);
    if (source) b.set(source.bias, layer.out);
    (layers[index] as Linear).in = newIn;
    (layers[index] as Linear).out = out;
    (layers[index] as Linear).bias = layer.bias || added > 0;
    merged.set(`${layer.name}.weight`, w);
    merged.set(`${layer.name}.bias`, b);
    if (options.train !== "all") {
      const wm = new Float32Array(out * newIn);
      const bm = new Float32Array(out);
      if (j === depth + 1) for (let o = 0; o < layer.out; o++) wm.fill(1, o * newIn + inR, (o + 1) * newIn);
      if (j === depth && options.train === "new-units") {
        wm.fill(1, layer.out * newIn);
        bm.fill(1, layer.out);
      }
      masks[`${layer.name}.weight`] = wm;
      masks[`${layer.name}.bias`] = bm;
    }
    if (j < depth && added > 0) branch.push({ site: layer.name, units: range(layer.out, added), donorSite: options.branch[j].donorSite });
    if (j === depth) units = range(layer.out, added);
    extraIn = j < depth ? added : j === depth ? m : 0;
  });
  return { network: { inputShape: network.inputShape, layers }, values: merged, gradientMasks: masks, units, branch };
}

const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);

/**
 * Float64 forward pass of a dense chain, layers `from`..`to` (inclusive), over `current` ([n, width], the input of
 * layer `from`); `zeroed` maps a layer index to units whose outputs are forced to 0. Returns the output of layer `to`.
 */
export function forward64(network: Network, values: Map<string, Float32Array>, input: Float32Array | Float64Array, n: number, zeroed: Record<number, number[]> = {}, from = 0, to = network.layers.length - 1): { output: Float64Array; width: number } {
  let width = input.length / n;
  let current: Float64Array = Float64Array.from(input);
  for (let i = from; i <= to; i++) {
    const layer = network.layers[i];
    switch (layer.op) {
      case "linear":
        current = dense(current, n, width, values.get(`${layer.name}.weight`)!, layer.bias ? values.get(`${layer.name}.bias`)! : null, layer.out);
        width = layer.out;
        break;
      case "relu":
        for (let k = 0; k < current.length; k++) if (current[k] < 0) current[k] = 0;
        break;
      case "leakyrelu":
        for (let k = 0; k < current.length; k++) if (current[k] < 0) current[k] *= layer.alpha;
        break;
      case "tanh":
        for (let k = 0; k < current.length; k++) current[k] = Math.tanh(current[k]);
        break;
      case "sigmoid":
        for (let k = 0; k < current.length; k++) current[k] = 1 / (1 + Math.exp(-current[k]));
        break;
      case "flatten":
      case "dropout":
        break;
      case "logsoftmax":
        for (let s = 0; s < n; s++) {
          let max = -Infinity;
          for (let c = 0; c < width; c++) max = Math.max(max, current[s * width + c]);
          let sum = 0;
          for (let c = 0; c < width; c++) sum += Math.exp(current[s * width + c] - max);
          for (let c = 0; c < width; c++) current[s * width + c] -= max + Math.log(sum);
        }
        break;
      default:
        fail("unsupported-op", `transplant handles dense layers (MLPs); a ${layer.op} layer is out of scope`);
    }
    for (const u of zeroed[i] ?? []) for (let s = 0; s < n; s++) current[s * width + u] = 0;
  }
  return { output: current, width };
}

/**
 * x [n, inputs] · wᵀ + b, w [out, inputs] in float64 (copied to float64 once). Sample by sample: a sample's row stays
 * in cache while every output reads it, four outputs at a time. Output by output, all of x was streamed from memory
 * once per output: 16.7 s for the 60,000 images of mnist:train at 100 units (a transplant's budget, whose site
 * activity is counted per condition). Each sum adds the same products in the same order either way: the same bits.
 */
function dense(x: Float64Array, n: number, inputs: number, w: Float32Array, b: Float32Array | null, out: number): Float64Array {
  const y = new Float64Array(n * out);
  const w64 = Float64Array.from(w);
  const bias = (o: number) => (b ? b[o] : 0);
  for (let s = 0; s < n; s++) {
    const at = s * inputs;
    let o = 0;
    // Four outputs at once: four independent sums, each in its own order, instead of one chain of additions.
    for (; o + 4 <= out; o += 4) {
      const r0 = o * inputs;
      const r1 = r0 + inputs;
      const r2 = r1 + inputs;
      const r3 = r2 + inputs;
      let s0 = bias(o);
      let s1 = bias(o + 1);
      let s2 = bias(o + 2);
      let s3 = bias(o + 3);
      for (let k = 0; k < inputs; k++) {
        const v = x[at + k];
        s0 += w64[r0 + k] * v;
        s1 += w64[r1 + k] * v;
        s2 += w64[r2 + k] * v;
        s3 += w64[r3 + k] * v;
      }
      y[s * out + o] = s0;
      y[s * out + o + 1] = s1;
      y[s * out + o + 2] = s2;
      y[s * out + o + 3] = s3;
    }
    for (; o < out; o++) {
      const row = o * inputs;
      let sum = bias(o);
      for (let k = 0; k < inputs; k++) sum += w64[row + k] * x[at + k];
      y[s * out + o] = sum;
    }
  }
  return y;
}
