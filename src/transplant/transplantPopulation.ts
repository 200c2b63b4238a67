/**
 * Which donor units a transplant moves. With a class K and no units, the impact population of K (Meyes et al. 2020:
 * units grouped by what their ablation costs each class): every unit of the site is ablated alone on the transplant
 * data and ranked by how much it lowers the mean log-probability of K on the images of K (a continuous form of the
 * class's accuracy drop, so that on a hundred images units that flip no image are still ordered by how far they
 * move K); the population is the shortest prefix of that ranking whose group ablation costs K at least half of the
 * largest accuracy drop any prefix causes. Dead units (never active on the data) are never chosen.
 */
import { fail } from "../errors.js";
import type { Network } from "../onnx/network.js";
import { crossEntropy } from "../engine/sweep/logits.js";
import { argmax } from "../engine/metrics.js";
import { forward64 } from "./transplantNetwork.js";

export interface PopulationChoice {
  /** Donor units, largest impact first (as given when the caller named them). */
  units: number[];
  /** The units that are never active on the transplant data. */
  dead: number[];
  /** With a class and no units: per unit of the site, the drop in mean log-probability of the class (nats). */
  impact: number[] | null;
  /** Class accuracy drop of each prefix of the ranking (index p = the first p+1 units). */
  prefixDrops: number[] | null;
  /** The rule that sized the population. */
  rule: string;
}

interface Donor {
  name: string;
  network: Network;
  values: Map<string, Float32Array>;
  /** Index of the layer whose output is the site. */
  siteLayer: number;
  site: string;
}

/** Donor activations at the site for the given preprocessed inputs ([n, units], float64). */
export function siteActivations(donor: Donor, inputs: Float32Array, n: number): { activations: Float64Array; width: number } {
  const { output, width } = forward64(donor.network, donor.values, inputs, n, {}, 0, donor.siteLayer);
  return { activations: output, width };
}

/** Units whose output is 0 on every sample. */
export function deadUnits(activations: Float64Array, width: number): number[] {
  const alive = new Uint8Array(width);
  for (let k = 0; k < activations.length; k++) if (activations[k] !== 0) alive[k % width] = 1;
  return Array.from(alive.keys()).filter((u) => alive[u] === 0);
}

/** How many of `units` are active (positive) on at least one of the n samples at the output of layer `siteLayer`. */
export function activeUnits(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, siteLayer: number, units: number[]): number {
  const { output, width } = forward64(network, values, inputs, n, {}, 0, siteLayer);
  const dead = new Set(deadUnits(output, width));
  return units.filter((u) => !dead.has(u)).length;
}

/** The population of class `target` at the donor's site, chosen as the module comment says. */
export function choosePopulation(donor: Donor, inputs: Float32Array, labels: Int32Array, target: number, dataSpec: string): PopulationChoice {
  const n = labels.length;
  const { activations, width } = siteActivations(donor, inputs, n);
  const dead = deadUnits(activations, width);
  const rows = Array.from(labels.keys()).filter((s) => labels[s] === target);
  if (rows.length === 0) fail("bad-data", `the transplant data ${dataSpec} has no images of class ${target} to choose its population from`, { source: dataSpec });
  const m = rows.length;
  const own = new Float64Array(m * width);
  rows.forEach((s, r) => own.set(activations.subarray(s * width, (s + 1) * width), r * width));
  const suffix = (zeroed: number[]) => {
    const input = Float64Array.from(own);
    for (const u of zeroed) for (let r = 0; r < m; r++) input[r * width + u] = 0;
    return forward64(donor.network, donor.values, input, m, {}, donor.siteLayer + 1);
  };
  const score = (zeroed: number[]) => {
    const { output, width: classes } = suffix(zeroed);
    let logProbability = 0;
    let correct = 0;
    for (let r = 0; r < m; r++) {
      const row = output.subarray(r * classes, (r + 1) * classes);
      logProbability -= crossEntropy(row, target);
      if (argmax(row) === target) correct++;
    }
    return { logProbability: logProbability / m, accuracy: correct / m };
  };
  const base = score([]);
  const deadSet = new Set(dead);
  const impact = Array.from({ length: width }, (_, u) => (deadSet.has(u) ? 0 : base.logProbability - score([u]).logProbability));
  const ranking = impact.map((v, u) => ({ v, u })).filter((e) => e.v > 0 && !deadSet.has(e.u)).sort((a, b) => b.v - a.v || a.u - b.u).map((e) => e.u);
  const prefixDrops = ranking.map((_, p) => base.accuracy - score(ranking.slice(0, p + 1)).accuracy);
  const largest = Math.max(0, ...prefixDrops);
  if (largest <= 0) fail("bad-units", `no population of ${donor.name} site ${donor.site} holds class ${target}: ablating its units never lowers the class's accuracy on ${dataSpec}`, { site: donor.site });
  const size = prefixDrops.findIndex((d) => d >= largest / 2) + 1;
  return {
    units: ranking.slice(0, size),
    dead,
    impact,
    prefixDrops,
    rule: `shortest prefix of the units ranked by single-unit impact on class ${target} whose group ablation costs it at least half of the largest prefix drop (${(100 * largest).toFixed(1)} pp)`,
  };
}
