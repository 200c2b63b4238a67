/**
 * Where a recovery holds or frees its units: the trainable network behind a site, and the parameter surgery that
 * starts (zeroed or fresh incoming weights) and ends (zeroed weights, or pinned channels at a residual block's output)
 * a recovery (src/models/recover.ts).
 */
import { fail } from "../errors.js";
import type { LesionModel } from "../engine/model.js";
import { inputOf, networkOf, siteLayerIndex, type Network } from "../onnx/network.js";
import { seeded } from "../random.js";

/**
 * The trainable network of `model`, its parameter values, the index of the layer whose output is `siteName`, and at a
 * residual block's output the layer whose channels hold its units (`pin`, see pinChannels; else null): what
 * `recover` retrains. A study with recovery asks before its first step.
 * @throws LesionError `unsupported-op` (layers lesion cannot train, naming the first; a residual block's output with no
 * ReLU after its Add or no branch layer to pin); `bad-option` (`free` at a residual block's output);
 * `unknown-site` (a site no trainable layer computes).
 */
export function recoverableSite(model: LesionModel, siteName: string, free = false): { network: Network; values: Map<string, Float32Array>; layer: number; pin: number | null } {
  let why = "";
  const found = networkOf(model.proto, model.inputShape, (reason) => (why = reason));
  if (!found) fail("unsupported-op", `${model.name} has layers lesion cannot train (it trains Linear, Conv, BatchNorm, pooling and activations, in chains or residual blocks): ${why}`);
  const { network, values } = found;
  const layer = siteLayerIndex(network, siteName);
  if (layer < 0) fail("unknown-site", `site ${siteName} is not the output of a trainable layer of ${model.name}`, { model: model.name, site: siteName, closest: [] });
  // A residual block's output is the sum of its branches: held units are pinned below zero in one branch before a
  // ReLU (pinChannels). Without a ReLU right after the join, or a branch layer to pin, the retrained model could
  // not keep them ablated (the mask that holds them in training is not part of a model).
  const owner = ownerOf(network, layer);
  if (network.layers[owner]?.op !== "add") return { network, values, layer, pin: null };
  const inside = model.sites.filter((s) => s.name.startsWith(`${siteName}.`)).map((s) => s.name);
  const elsewhere = `recover a site inside the block${inside.length > 0 ? ` (${inside.join(", ")})` : " (a conv's output: `lesion info` lists them)"}`;
  if (free) fail("bad-option", `site ${siteName} is a residual block's output: its units have no incoming weights of their own to learn again from fresh ones (\`free\`); hold them (without \`free\`), or ${elsewhere}`, { options: ["free"], value: true });
  const pin = pinnableInput(network, owner, values);
  if (!(network.layers[layer].op === "relu" && inputOf(network, layer) === owner && pin >= 0)) {
    fail("unsupported-op", `site ${siteName} is a residual block's output (the sum of its branches) with no ReLU right after the join or no BatchNorm, Linear or Conv with a bias feeding it: its units cannot be held at zero in the retrained model; ${elsewhere}`, { site: siteName, op: "Add" });
  }
  return { network, values, layer, pin };
}

/**
 * A copy of `values` in which `units` of the Linear/Conv layer behind `layer` have fresh incoming weights and bias,
 * drawn as PyTorch initialises them (U(−1/√fanIn, 1/√fanIn), seeded), and a BatchNorm after it has γ = 1, β = 0 for
 * them: the units of a free recovery, which then learn again.
 */
export function reinitIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[], seed: number): Map<string, Float32Array> {
  const rand = seeded(seed * 7919 + 23);
  return replaceIncoming(network, values, layer, units, (fanIn) => {
    const bound = 1 / Math.sqrt(fanIn);
    return () => (rand() * 2 - 1) * bound;
  }, { weight: 1, bias: 0 });
}

/**
 * A copy of the parameters with the held units' incoming weights and bias zeroed (the layer feeding site `layer`).
 * With a BatchNorm between that layer and the site, its γ and β are zeroed too: the unit's output is then exactly zero
 * whatever the running statistics (γ·x̂ + β = 0).
 */
export function zeroIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[]): Map<string, Float32Array> {
  return replaceIncoming(network, values, layer, units, () => () => 0, { weight: 0, bias: 0 });
}

/**
 * A copy of `values` in which `units` (in ascending order) of the Linear/Conv layer behind site `layer` get incoming
 * weights, then biases, from `draw(fanIn)`, and a BatchNorm between that layer and the site the γ and β of `norm`.
 */
function replaceIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[], draw: (fanIn: number) => () => number, norm: { weight: number; bias: number }): Map<string, Float32Array> {
  const owner = ownerOf(network, layer);
  const l = network.layers[owner];
  if (l.op !== "linear" && l.op !== "conv") return values;
  const copy = new Map(values);
  const sorted = [...units].sort((a, b) => a - b);
  const fanIn = copy.get(`${l.name}.weight`)!.length / l.out;
  const value = draw(fanIn);
  setUnits(copy, `${l.name}.weight`, sorted, fanIn, value);
  setUnits(copy, `${l.name}.bias`, sorted, 1, value);
  const bn = network.layers[owner + 1];
  if (bn?.op === "batchnorm" && inputOf(network, owner + 1) === owner && owner + 1 <= layer) {
    setUnits(copy, `${bn.name}.weight`, sorted, 1, () => norm.weight);
    setUnits(copy, `${bn.name}.bias`, sorted, 1, () => norm.bias);
  }
  return copy;
}

/** Replaces in `copy` the entries of parameter `name` that belong to `units` (`per` entries each, in order) by `value()`, on a copy of the array; a parameter the network lacks is left out. */
function setUnits(copy: Map<string, Float32Array>, name: string, units: number[], per: number, value: () => number): void {
  const array = copy.get(name);
  if (!array) return;
  const next = Float32Array.from(array);
  for (const u of units) for (let i = u * per; i < (u + 1) * per; i++) next[i] = value();
  copy.set(name, next);
}

/** What a pinned unit's branch outputs: below any other finite branch's value, so the ReLU after the join gives 0. */
const PINNED = -1e30;

/**
 * The input of residual join `add` whose channels can be pinned: a BatchNorm, or a Linear/Conv with a bias, read by
 * the join directly (the block's own branch first, then the shortcut's); −1 if neither.
 */
function pinnableInput(network: Network, add: number, values: Map<string, Float32Array>): number {
  const join = network.layers[add] as { from: number };
  for (const i of [inputOf(network, add), join.from]) {
    const l = network.layers[i];
    if ((l?.op === "batchnorm" || l?.op === "linear" || l?.op === "conv") && values.has(`${l.name}.weight`) && values.has(`${l.name}.bias`)) return i;
  }
  return -1;
}

/**
 * A copy of the parameters in which `units` of a residual block's output (a ReLU after the join) are exactly zero:
 * their channels of layer `pin` (pinnableInput) output −1e30 (BatchNorm: γ = 0, β = −1e30; Linear/Conv: weights 0,
 * bias −1e30), so the join stays below zero for any other branch's value under 1e30.
 */
export function pinChannels(network: Network, values: Map<string, Float32Array>, pin: number, units: number[]): Map<string, Float32Array> {
  const { name } = network.layers[pin] as { name: string };
  const copy = new Map(values);
  const channels = copy.get(`${name}.bias`)!.length;
  setUnits(copy, `${name}.weight`, units, copy.get(`${name}.weight`)!.length / channels, () => 0);
  setUnits(copy, `${name}.bias`, units, 1, () => PINNED);
  return copy;
}

/** The layer that computes site `layer`'s units: following inputs back to a Linear, Conv or residual Add (−1: none). */
function ownerOf(network: Network, layer: number): number {
  let owner = layer;
  while (owner >= 0 && !["linear", "conv", "add"].includes(network.layers[owner].op)) owner = inputOf(network, owner);
  return owner;
}
