/**
 * The networks of a transplant (src/transplant/transplant.ts): the recipient widened by donor units.
 *
 * Merging is a block-diagonal widening, so the merged network stays a chain that lesion trains and studies like any
 * other. For a population at the donor's weighted layer L (0-based among its linear and conv layers), the recipient's
 * weighted layers 0..L are widened by a parallel branch: layers 0..L−1 by every donor unit of that layer (the upstream
 * circuit the population reads from: a conv layer's units are its channels), layer L by the population; the branch
 * reads only from the branch (cross blocks are zero), so its units compute exactly what they computed in the donor.
 * The next weighted layer reads the population through new columns that start at zero, so the merged network
 * computes exactly what the recipient computed until those columns are trained. Nothing of the recipient is
 * overwritten. Pooling and activations act on each channel alone, so the branch passes them unchanged.
 */
import { fail } from "../errors.js";
import type { Preprocessing } from "../onnx/metadata.js";
import { layerShapes, type Network, type NetworkLayer } from "../onnx/network.js";
import { seeded } from "../random.js";

/** A layer with weights: its units are a linear layer's outputs or a conv layer's channels. */
export type Weighted = Extract<NetworkLayer, { op: "linear" | "conv" }>;

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

/** Indices of a network's weighted layers (linear and conv), in order. */
export function weightedIndices(network: Network): number[] {
  return network.layers.flatMap((l, i) => (l.op === "linear" || l.op === "conv" ? [i] : []));
}

/** The ops of a chain up to layer `end` (inclusive), widths left out: what donor and recipient must share. */
export function opSignature(network: Network, end: number): string[] {
  // Dropout computes nothing at inference, and a Flatten of the image is the flat input (the same pixel order: one
  // layout is checked for both): `lesion import --arch mlp` takes [N, 784], `lesion train` [N, 1, 28, 28] flattened.
  // A conv or pooling layer's window is shared too: the branch runs through the recipient's layers.
  return network.layers.slice(0, end + 1).filter((l) => l.op !== "dropout" && l.op !== "flatten").map((l) => {
    if (l.op === "leakyrelu") return `leakyrelu(${l.alpha})`;
    if (l.op === "conv" || l.op === "maxpool" || l.op === "avgpool") return `${l.op}(kernel=${l.kernel},stride=${l.stride},padding=${l.padding ?? 0})`;
    return l.op;
  });
}

/**
 * Donor weights of the first layer rewritten for the recipient's input normalisation: the donor computes
 * W·(p − m_d)/s_d + b on pixels p, the recipient feeds x = (p − m_r)/s_r, so W' = W·s_r/s_d and
 * b' = b + W·(m_r − m_d)/s_d, per input channel. Identity when both normalise alike (else exact up to the float32
 * rounding of the rewritten weights: 2.5e-7 on a trial's units of activations near 12). A conv layer's row holds k×k
 * weights per input channel; a padded one is only rewritten where `checkRebase` lets it.
 */
export function rebaseFirstLayer(layer: Weighted, weight: Float32Array, bias: Float32Array | null, rows: number[], donor: Preprocessing, recipient: Preprocessing): { weight: Float32Array; bias: Float32Array } {
  const area = layer.op === "conv" ? layer.kernel * layer.kernel : 0;
  const inputs = layer.in * (area || 1);
  const [c, h, w] = recipient.imageShape ?? [1, 1, inputs];
  const channelOf = (i: number) => (area > 0 ? Math.floor(i / area) : recipient.layout === "nhwc" ? i % c : Math.floor(i / (h * w)));
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
 * The inputs each unit of layer `layer`'s output becomes for the next weighted layer: its positions where a flatten
 * comes between (channel-major: a channel's H·W features in a row), else 1 (a feature, or a channel a conv reads).
 */
export function positionsAfter(network: Network, layer: number, shapes: number[][] = layerShapes(network)): number {
  const next = network.layers.findIndex((l, i) => i > layer && (l.op === "linear" || l.op === "conv"));
  const flatten = network.layers.slice(layer + 1, next < 0 ? undefined : next).findIndex((l) => l.op === "flatten");
  return flatten < 0 ? 1 : shapes[layer + flatten].slice(1).reduce((a, b) => a * b, 1);
}

/** A unit's incoming weights: `in` of a linear layer, `in`·k² of a conv layer. */
export function rowSize(layer: Weighted): number {
  return layer.in * (layer.op === "conv" ? layer.kernel * layer.kernel : 1);
}

/**
 * The incoming weights [units, rowSize] and biases of `units` of the donor's weighted layer `j` (of `weighted`), the
 * first layer's rewritten for the recipient's input normalisation, and their batch norm where the layer has one.
 */
export function donorRows(donor: { network: Network; values: Map<string, Float32Array> }, weighted: number[], j: number, units: number[], from: Preprocessing, to: Preprocessing): { weight: Float32Array; bias: Float32Array; norm?: UnitNorm } {
  const layer = donor.network.layers[weighted[j]] as Weighted;
  const weight = donor.values.get(`${layer.name}.weight`)!;
  const bias = layer.bias ? donor.values.get(`${layer.name}.bias`)! : null;
  const norm = unitNorm(donor, weighted, j, units);
  if (j === 0) return { ...rebaseFirstLayer(layer, weight, bias, units, from, to), norm };
  const size = rowSize(layer);
  return { weight: Float32Array.from(units.flatMap((u) => Array.from(weight.subarray(u * size, (u + 1) * size)))), bias: Float32Array.from(units.map((u) => (bias ? bias[u] : 0))), norm };
}

/**
 * Throws `unsupported-op` where the donor's first layer cannot be rewritten for the recipient's normalisation
 * (`rebaseFirstLayer`): a padded conv under different means. Its padding is 0 in each network's own normalised input,
 * that is pixel m_d in the donor's and m_r in the recipient's, so no rewritten weights compute its units at the border.
 */
export function checkRebase(layer: Weighted, donor: Preprocessing, recipient: Preprocessing): void {
  if (layer.op !== "conv" || layer.padding === 0) return;
  const at = (values: number[], ch: number) => values[values.length === 1 ? 0 : ch];
  if (Array.from({ length: layer.in }, (_, ch) => ch).some((ch) => at(recipient.mean, ch) !== at(donor.mean, ch))) {
    fail("unsupported-op", `the donor normalises its input with mean ${donor.mean.join(",")} and the recipient with ${recipient.mean.join(",")}; the first conv layer ${layer.name} pads its input with zeros, which are other pixels in the two, so its units cannot be moved exactly (give both networks the same --mean)`, { op: "Conv" });
  }
}

/**
 * The incoming weights [m, fanIn] and biases [m] of m fresh units (the fresh-units control): PyTorch's default for
 * nn.Linear and nn.Conv2d (fanIn = in·k² for a conv layer), weights kaiming_uniform(a = √5) and biases alike, both U(±1/√fanIn), drawn from Mulberry32 seeded
 * 7919·seed + 17, the weights row by row, then the biases.
 */
export function freshUnits(m: number, fanIn: number, seed: number): { weight: Float32Array; bias: Float32Array } {
  const rand = seeded(seed * 7919 + 17);
  const bound = 1 / Math.sqrt(fanIn);
  const draw = (length: number) => Float32Array.from({ length }, () => (rand() * 2 - 1) * bound);
  const weight = draw(m * fanIn);
  return { weight, bias: draw(m) };
}

/**
 * A batch norm's parameters and running statistics for added units (the donor's for its units; a fresh unit's are
 * PyTorch's initial γ = 1, β = 0, mean 0, variance 1), one entry per unit.
 */
export interface UnitNorm {
  weight: Float32Array;
  bias: Float32Array;
  running_mean: Float32Array;
  running_var: Float32Array;
}

const NORM_KEYS = ["weight", "bias", "running_mean", "running_var"] as const;

/** The batch norm of `units` of weighted layer `j` (of `weighted`) where one follows it before the next weighted layer; else undefined. */
export function unitNorm(chain: { network: Network; values: Map<string, Float32Array> }, weighted: number[], j: number, units: number[]): UnitNorm | undefined {
  const end = weighted[j + 1] ?? chain.network.layers.length;
  const norm = chain.network.layers.slice(weighted[j] + 1, end).find((l) => l.op === "batchnorm") as { name: string } | undefined;
  if (!norm) return undefined;
  const pick = (key: string) => Float32Array.from(units, (u) => chain.values.get(`${norm.name}.${key}`)![u]);
  return { weight: pick("weight"), bias: pick("bias"), running_mean: pick("running_mean"), running_var: pick("running_var") };
}

export interface MergeOptions {
  recipient: { network: Network; values: Map<string, Float32Array>; preprocessing: Preprocessing };
  /** Index among the recipient's weighted (linear and conv) layers of the layer widened by the population. */
  depth: number;
  /**
   * New units at the site: incoming weights [m, in·k²] (in = the branch's previous width, else the recipient's; k the
   * kernel size of a conv layer, 1 for a linear one) and biases [m].
   */
  population: { weight: Float32Array; bias: Float32Array; norm?: UnitNorm };
  /**
   * Upstream branch per earlier weighted layer (depth of them), each [d_j, in_j·k²] weights and biases (and `norm`, the
   * donor's batch norm of those units where the layer has one); empty when the new units read the recipient's
   * previous layer (fresh units).
   */
  branch: Array<{ weight: Float32Array; bias: Float32Array; donorSite: string; norm?: UnitNorm }>;
  /** Which parameters train: the new outgoing columns only (transplant), also the new units' incoming weights (fresh units), or everything (fine-tuning). */
  train: "outgoing" | "new-units" | "all";
}

/**
 * The recipient with a parallel branch ending in the new units at weighted layer `depth`; see the module comment.
 * A weight row is an output unit's incoming weights: `in` entries of a linear layer, `in`·k² of a conv layer (channel
 * by channel, each a k×k kernel), so the recipient's own inputs and the branch's are two contiguous blocks of it. A
 * conv branch that reaches a flatten becomes its channels' features (channel-major: appended after the recipient's).
 * A batch norm after a widened layer is widened alike (the donor's statistics for donor units); every batch norm's
 * γ and β are frozen but for fine-tuning, and fresh units' own (trained with them).
 */
export function mergeNetworks(options: MergeOptions): MergedNetwork {
  const { network, values } = options.recipient;
  const shapes = layerShapes(network);
  const weighted = weightedIndices(network);
  const depth = options.depth;
  const m = options.population.bias.length;
  const layers = network.layers.map((l) => ({ ...l })) as NetworkLayer[];
  const merged = new Map<string, Float32Array>();
  const masks: Record<string, Float32Array> = {};
  const branch: MergedNetwork["branch"] = [];
  let extraIn = 0; // branch units feeding the current layer, in its own input units (channels or features)
  let units: number[] = [];
  const norms = network.layers.flatMap((l, i) => (l.op === "batchnorm" ? [i] : []));
  for (const i of norms) {
    const name = (network.layers[i] as { name: string }).name;
    for (const key of NORM_KEYS) merged.set(`${name}.${key}`, values.get(`${name}.${key}`)!);
    if (options.train !== "all") for (const key of ["weight", "bias"]) masks[`${name}.${key}`] = new Float32Array((network.layers[i] as { channels: number }).channels);
  }
  weighted.forEach((index, j) => {
    const layer = network.layers[index] as Weighted;
    const e = layer.op === "conv" ? layer.kernel * layer.kernel : 1;
    const weight = values.get(`${layer.name}.weight`)!;
    const bias = layer.bias ? values.get(`${layer.name}.bias`)! : null;
    const inR = layer.in;
    const added = j < depth ? (options.branch[j]?.bias.length ?? 0) : j === depth ? m : 0;
    const newIn = inR + (j === 0 ? 0 : extraIn);
    const out = layer.out + added;
    const row = newIn * e;
    const w = new Float32Array(out * row);
    for (let o = 0; o < layer.out; o++) w.set(weight.subarray(o * inR * e, (o + 1) * inR * e), o * row);
    const source = j < depth ? options.branch[j] : j === depth ? options.population : null;
    if (source) {
      const fromRecipient = j === 0 || options.branch.length === 0;
      const width = (fromRecipient ? inR : extraIn) * e;
      const offset = fromRecipient ? 0 : inR * e;
      for (let r = 0; r < added; r++) w.set(source.weight.subarray(r * width, (r + 1) * width), (layer.out + r) * row + offset);
    }
    const b = new Float32Array(out);
    if (bias) b.set(bias);
    if (source) b.set(source.bias, layer.out);
    Object.assign(layers[index], { in: newIn, out, bias: layer.bias || added > 0 });
    merged.set(`${layer.name}.weight`, w);
    merged.set(`${layer.name}.bias`, b);
    if (options.train !== "all") {
      const wm = new Float32Array(out * row);
      const bm = new Float32Array(out);
      if (j === depth + 1) for (let o = 0; o < layer.out; o++) wm.fill(1, o * row + inR * e, (o + 1) * row);
      if (j === depth && options.train === "new-units") {
        wm.fill(1, layer.out * row);
        bm.fill(1, layer.out);
      }
      masks[`${layer.name}.weight`] = wm;
      masks[`${layer.name}.bias`] = bm;
    }
    for (const i of added > 0 ? norms.filter((i) => i > index && i < (weighted[j + 1] ?? network.layers.length)) : []) {
      const norm = layers[i] as Extract<NetworkLayer, { op: "batchnorm" }>;
      const fresh: UnitNorm = { weight: new Float32Array(added).fill(1), bias: new Float32Array(added), running_mean: new Float32Array(added), running_var: new Float32Array(added).fill(1) };
      const own = source?.norm ?? fresh;
      for (const key of NORM_KEYS) {
        const widened = new Float32Array(norm.channels + added);
        widened.set(values.get(`${norm.name}.${key}`)!);
        widened.set(own[key], norm.channels);
        merged.set(`${norm.name}.${key}`, widened);
      }
      if (options.train !== "all") {
        for (const key of ["weight", "bias"]) {
          const mask = new Float32Array(norm.channels + added);
          if (j === depth && options.train === "new-units") mask.fill(1, norm.channels);
          masks[`${norm.name}.${key}`] = mask;
        }
      }
      layers[i] = { ...norm, channels: norm.channels + added };
    }
    if (j < depth && added > 0) branch.push({ site: layer.name, units: range(layer.out, added), donorSite: options.branch[j].donorSite });
    if (j === depth) units = range(layer.out, added);
    // The next weighted layer reads these units, as features per position where a flatten comes between.
    extraIn = (j < depth ? added : j === depth ? m : 0) * positionsAfter(network, index, shapes);
  });
  return { network: { inputShape: network.inputShape, layers }, values: merged, gradientMasks: masks, units, branch };
}

const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);
