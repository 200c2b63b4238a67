/**
 * Which donor units a transplant moves. With a class K and no units, the impact population of K (Meyes et al. 2020:
 * units grouped by what their ablation costs each class): every unit of the site is ablated alone on the transplant
 * data and ranked by how much it lowers the mean log-probability of K on the images of K (a continuous form of the
 * class's accuracy drop, so that on a hundred images units that flip no image are still ordered by how far they
 * move K); the population is the shortest prefix of that ranking whose group ablation costs K at least half of the
 * largest accuracy drop any prefix causes. Dead units (never active on the data) are never chosen. A conv site's
 * units are its channels: a channel is ablated at every position, and is dead when it is 0 at every position.
 */
import { fail } from "../errors.js";
import { layerShapes, type Network } from "../onnx/network.js";
import { crossEntropy } from "../engine/sweep/logits.js";
import { argmax } from "../engine/metrics.js";
import { chainForward64, forBatches64, zeroUnits } from "./chainForward64.js";

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

/** Units (features, or channels at every position) of the output of layer `siteLayer` that are 0 on every one of the n samples. */
export function deadUnits(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, siteLayer: number): number[] {
  const [units, ...positions] = layerShapes(network)[siteLayer];
  const plane = positions.reduce((a, b) => a * b, 1);
  const alive = new Uint8Array(units);
  forBatches64(network, values, inputs, n, siteLayer, (output, _start, count) => {
    // A unit's plane in each sample (one value of a flat output): alive once any of it is nonzero.
    for (let s = 0; s < count; s++) {
      for (let u = 0; u < units; u++) {
        const at = (s * units + u) * plane;
        if (!alive[u] && output.subarray(at, at + plane).some((v) => v !== 0)) alive[u] = 1;
      }
    }
  });
  return Array.from(alive.keys()).filter((u) => alive[u] === 0);
}

/** How many of `units` are active (nonzero) on at least one of the n samples at the output of layer `siteLayer`. */
export function activeUnits(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, siteLayer: number, units: number[]): number {
  const dead = new Set(deadUnits(network, values, inputs, n, siteLayer));
  return units.filter((u) => !dead.has(u)).length;
}

/** The population of class `target` at the donor's site, chosen as the module comment says. */
export function choosePopulation(donor: Donor, inputs: Float32Array, labels: Int32Array, target: number, dataSpec: string): PopulationChoice {
  const n = labels.length;
  const rows = Array.from(labels.keys()).filter((s) => labels[s] === target);
  if (rows.length === 0) fail("bad-data", `the transplant data ${dataSpec} has no images of class ${target} to choose its population from`, { source: dataSpec });
  const dead = deadUnits(donor.network, donor.values, inputs, n, donor.siteLayer);
  const m = rows.length;
  const sample = inputs.length / n;
  const own = new Float32Array(m * sample);
  rows.forEach((s, r) => own.set(inputs.subarray(s * sample, (s + 1) * sample), r * sample));
  // Each zeroed set's mean log-probability of the class and its accuracy on the class's images, the site's
  // activations computed once per batch for every set (one running sum per set, in sample order).
  const scores = (sets: number[][]) => {
    const logProbability = new Float64Array(sets.length);
    const correct = new Float64Array(sets.length);
    forBatches64(donor.network, donor.values, own, m, donor.siteLayer, (activations, _start, count, shape) => {
      sets.forEach((zeroed, z) => {
        const input = Float64Array.from(activations);
        zeroUnits(input, count, shape, zeroed);
        const { output } = chainForward64(donor.network, donor.values, input, count, {}, donor.siteLayer + 1);
        const classes = output.length / count;
        for (let r = 0; r < count; r++) {
          const row = output.subarray(r * classes, (r + 1) * classes);
          logProbability[z] -= crossEntropy(row, target);
          if (argmax(row) === target) correct[z]++;
        }
      });
    });
    return sets.map((_, z) => ({ logProbability: logProbability[z] / m, accuracy: correct[z] / m }));
  };
  const width = layerShapes(donor.network)[donor.siteLayer][0];
  const deadSet = new Set(dead);
  const alive = Array.from({ length: width }, (_, u) => u).filter((u) => !deadSet.has(u));
  const [base, ...singles] = scores([[], ...alive.map((u) => [u])]);
  const impact = new Array<number>(width).fill(0);
  alive.forEach((u, i) => (impact[u] = base.logProbability - singles[i].logProbability));
  const ranking = impact.map((v, u) => ({ v, u })).filter((e) => e.v > 0 && !deadSet.has(e.u)).sort((a, b) => b.v - a.v || a.u - b.u).map((e) => e.u);
  const prefixDrops = scores(ranking.map((_, p) => ranking.slice(0, p + 1))).map((s) => base.accuracy - s.accuracy);
  const largest = Math.max(0, ...prefixDrops);
  // A donor that gets the class wrong anyway (given its inputs otherwise than it was trained) has nothing to lose: said.
  const right = `the donor gets ${(100 * base.accuracy).toFixed(1)}% of its ${m} images of the class right`;
  if (largest <= 0) fail("bad-units", `no population of ${donor.name} site ${donor.site} holds class ${target}: ablating its units never lowers the class's accuracy on ${dataSpec} (${right}${base.accuracy < 0.5 ? "; is it given its inputs as it was trained? lesion info shows the normalisation it records" : ""})`, { site: donor.site });
  const size = prefixDrops.findIndex((d) => d >= largest / 2) + 1;
  return {
    units: ranking.slice(0, size),
    dead,
    impact,
    prefixDrops,
    rule: `shortest prefix of the units ranked by single-unit impact on class ${target} whose group ablation costs it at least half of the largest prefix drop (${(100 * largest).toFixed(1)} pp)`,
  };
}
