/**
 * Functional neuron populations (Meyes et al. 2020): units of a site grouped (a) by their class-conditional activation
 * profiles and (b) by their ablation-impact profiles, each with hierarchical clustering (average linkage on
 * correlation distance, ml-hclust) and k-means (z-scored profiles, Euclidean, ml-kmeans, seeded). The number of
 * populations is the one with the best mean silhouette in 2..maxK unless given. Dead units are left out (they have no
 * profile) and labelled −1. Every population is then ablated as a group, and its per-class effect compared with the
 * sum of its members' single-unit effects: `interaction` = group change − summed single changes, negative when the
 * members cover for each other (redundancy), positive when they hurt less together than apart.
 * Units are also embedded in 2-D from their activation profiles: PCA (ml-pca), t-SNE and UMAP (druidjs, seeded).
 */
import { fail } from "../errors.js";
import { TSNE, UMAP } from "@saehrimnir/druidjs";
import { agnes } from "ml-hclust";
import { kmeans } from "ml-kmeans";
import { PCA } from "ml-pca";
import type { Dataset } from "../data/types.js";
import { requireFiniteWeights, resolveSite, type LesionModel } from "../engine/model.js";
import { ablate } from "./ablate.js";
import { condition, type Condition } from "./conditions.js";
import type { IndicatorsResult, SiteIndicators } from "./indicators.js";
import type { Matrix } from "../engine/metrics.js";
import type { Progress } from "../progress.js";
import { adjustedRandIndex, correlationDistances, normalizedMutualInformation, silhouette } from "./stats.js";


/** Options of `populations`. */
export interface PopulationsOptions {
  /** Number of populations per grouping. Default: best silhouette in 2..maxK. */
  k?: number;
  /** Largest number of populations tried. Default 8. */
  maxK?: number;
  /** Seed of k-means, t-SNE and UMAP. Default 0. */
  seed?: number;
  /** Samples per onnxruntime run of the group ablations, as `ablate`'s. */
  batchSize?: number;
  /** Progress events of the group ablations (phase "ablate"). */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** A population ablated as a group (zero mode), against the sum of its members' single-unit ablations. Per-class arrays are [classes]. */
export interface PopulationAblation {
  /** Accuracy with the population ablated, a fraction 0..1. */
  accuracy: number;
  /** Ablated − intact accuracy, a signed fraction (negative: a loss). */
  delta: number;
  /** Per class: ablated − intact accuracy, a signed fraction; null for a class without samples. */
  deltaPerClass: Array<number | null>;
  /** Per class: the sum of the members' single-unit accuracy changes (null for a class without samples). */
  sumOfSingles: Array<number | null>;
  /** Per class: group change − sum of single changes (null for a class without samples). */
  interaction: Array<number | null>;
}

/** One population of a grouping: units of a site clustered together (Meyes et al. 2020). */
export interface Population {
  /** 0..k−1 within its grouping, numbered in order of first appearance over the units (the unit with the lowest index is in population 0). */
  id: number;
  /** Its units, ascending. */
  units: number[];
  /** Mean class-conditional activation of the members, per class (NaN for a class without samples, as `classMeans`). */
  classProfile: number[];
  /** The population ablated as a group. */
  ablation: PopulationAblation;
}

/** One clustering of a site's active units into populations. */
export interface Grouping {
  /** The profiles clustered: class-conditional mean activations, or per-class accuracy drops of single-unit ablation. */
  by: "activation" | "impact";
  /** Average-linkage hierarchical clustering on correlation distance, or seeded k-means on z-scored profiles. */
  method: "hierarchical" | "kmeans";
  /** Number of populations: `options.k` (at most the active units), else the best silhouette in 2..maxK. */
  k: number;
  /** Mean silhouette of the grouping, −1..1 (under the method's distance). */
  silhouette: number;
  /**
   * Whether k is the largest tried (`maxK`, k not fixed): the best silhouette may be a cap rather than a peak, and
   * more populations might score higher (a note in the console and the report, not a warning: it is common).
   */
  capped: boolean;
  /** Per unit: its population id, or −1 for a dead unit. */
  labels: number[];
  /** The populations, by id (0..k−1). */
  populations: Population[];
}

/** One site's populations: four groupings (activation and impact, each hierarchical and k-means), their agreement and unit embeddings. */
export interface SitePopulations {
  /** The site's name. */
  site: string;
  /** Number of units at the site (dead ones included). */
  units: number;
  /** Units left out of the groupings: the dead ones (exactly 0 on every sample). */
  excluded: number[];
  /** In this order: activation/hierarchical, activation/kmeans, impact/hierarchical, impact/kmeans. */
  groupings: Grouping[];
  /** Agreement of the activation and impact groupings (hierarchical), on the included units. */
  agreement: { ari: number; nmi: number };
  /**
   * 2-D coordinates of every unit from its activation profile ([units, 2]). t-SNE and UMAP place only the units whose
   * profile varies over the classes (NaN for the others: a dead unit's flat profile is equally far from every other
   * unit, where t-SNE's neighbourhood search fails); null when fewer than 6 units vary. PCA places every unit.
   */
  embeddings: { pca: Matrix; tsne: Matrix | null; umap: Matrix | null };
  /** Near ties of the group ablations that no float64 path could settle, and the group ablations' warnings (ablate's). */
  unresolvedTies: number;
  /** The group ablations' warnings (ablate's `warnings`). */
  warnings: string[];
}

/**
 * Functional populations of each site of `found` (Meyes et al. 2020; method in the module comment): groupings by
 * activation and by impact profile, each population ablated as a group with its per-class effect (fractions 0..1)
 * and its interaction with the sum of its members' single effects, the agreement of the groupings (ARI, NMI) and 2-D
 * embeddings of the units ([units, 2]).
 * @throws LesionError `bad-option` (a site with fewer than 3 active units); `bad-model` (NaN or infinite weights); as
 * `ablate` for the group ablations (`shape-mismatch`, `bad-data`, `label-out-of-range`, `unsupported-op`, `bad-model`,
 * `engine-disagreement`, `aborted`).
 */
export async function populations(model: LesionModel, data: Dataset, found: IndicatorsResult, options: PopulationsOptions = {}): Promise<SitePopulations[]> {
  requireFiniteWeights(model, "clustering units into populations");
  const results: SitePopulations[] = [];
  for (const site of found.sites) results.push(await sitePopulations(model, data, found, site, options));
  return results;
}

/** Active units a site needs for its units to be grouped into populations. */
const MIN_UNITS = 3;

async function sitePopulations(model: LesionModel, data: Dataset, found: IndicatorsResult, site: SiteIndicators, options: PopulationsOptions): Promise<SitePopulations> {
  const k = found.classNames.length;
  const dead = new Set(site.dead);
  const included = Array.from({ length: site.units }, (_, u) => u).filter((u) => !dead.has(u));
  // Clustering needs a few units to group: a sigmoid model's 1-unit output site crashed it with an internal error.
  if (included.length < MIN_UNITS) fail("bad-option", `\`sites\`: ${site.site} has ${included.length} active unit${included.length === 1 ? "" : "s"}; functional populations need at least ${MIN_UNITS} (leave it out of \`sites\`)`, { options: ["sites"], value: site.site });
  const activation = Array.from({ length: site.units }, (_, u) => Array.from({ length: k }, (_, c) => Number(site.classMeans.data[c * site.units + u])));
  const impact = Array.from({ length: site.units }, (_, u) => Array.from({ length: k }, (_, c) => Number(site.impactProfile.data[u * k + c])));
  // Units are clustered and embedded by their profiles over the classes the data has: a class without samples has
  // no mean and no accuracy (NaN), which k-means and the distances cannot take.
  const present = Array.from({ length: k }, (_, c) => c).filter((c) => found.baseline.perClass[c] !== null);
  const over = (profile: number[]) => (present.length === k ? profile : present.map((c) => profile[c]));
  const seed = options.seed ?? 0;
  const maxK = options.maxK ?? 8;
  const groupings: Array<Omit<Grouping, "populations"> & { members: number[][] }> = [];
  for (const by of ["activation", "impact"] as const) {
    const profiles = included.map((u) => over(by === "activation" ? activation[u] : impact[u]));
    for (const method of ["hierarchical", "kmeans"] as const) {
      const { labels, k: chosen, silhouette: score } = cluster(profiles, method, options.k, maxK, seed);
      // The best silhouette at the largest k tried may be a cap, not a peak (a trial's fc1 impact grouping).
      const capped = options.k === undefined && chosen === maxK && maxK < included.length - 1;
      const full = new Array<number>(site.units).fill(-1);
      included.forEach((u, i) => (full[u] = labels[i]));
      const members = Array.from({ length: chosen }, (_, id) => included.filter((_, i) => labels[i] === id));
      groupings.push({ by, method, k: chosen, silhouette: score, capped, labels: full, members });
    }
  }
  // Every population of every grouping ablated as a group, in one run.
  const resolved = resolveSite(model, site.site);
  const conditions: Condition[] = [];
  const seen = new Map<string, number>();
  for (const g of groupings) {
    for (const units of g.members) {
      const c = condition(resolved, units, "zero", `population ${units.join(" ")}`);
      if (!seen.has(c.id)) (seen.set(c.id, conditions.length), conditions.push(c));
    }
  }
  const ablation = conditions.length > 0 ? await ablate(model, data, { conditions, loss: false, batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal }) : null;
  const hierarchical = (by: string) => groupings.find((g) => g.by === by && g.method === "hierarchical")!;
  return {
    site: site.site,
    units: site.units,
    excluded: site.dead,
    groupings: groupings.map(({ members, ...g }) => ({
      ...g,
      populations: members.map((units, id) => {
        const result = ablation!.conditions[seen.get(condition(resolved, units, "zero", `population ${units.join(" ")}`).id)!];
        // A class without samples has no change (null, as deltaPerClass), not NaN.
        const sumOfSingles = Array.from({ length: k }, (_, c) => (present.includes(c) ? -units.reduce((s, u) => s + impact[u][c], 0) : null));
        return {
          id,
          units,
          classProfile: Array.from({ length: k }, (_, c) => units.reduce((s, u) => s + activation[u][c], 0) / units.length),
          ablation: {
            accuracy: result.accuracy,
            delta: result.delta,
            deltaPerClass: result.deltaPerClass,
            sumOfSingles,
            interaction: result.deltaPerClass.map((d, c) => (d === null || sumOfSingles[c] === null ? null : d - sumOfSingles[c]!)),
          },
        };
      }),
    })),
    agreement: {
      ari: adjustedRandIndex(included.map((u) => hierarchical("activation").labels[u]), included.map((u) => hierarchical("impact").labels[u])),
      nmi: normalizedMutualInformation(included.map((u) => hierarchical("activation").labels[u]), included.map((u) => hierarchical("impact").labels[u])),
    },
    embeddings: embed(activation.map(over), seed),
    unresolvedTies: ablation?.unresolvedTies ?? 0,
    warnings: ablation?.warnings ?? [],
  };
}

/** Clusters rows; k fixed or the best silhouette in 2..maxK. Labels are 0..k−1 in order of first appearance. */
function cluster(profiles: number[][], method: "hierarchical" | "kmeans", fixedK: number | undefined, maxK: number, seed: number): { labels: number[]; k: number; silhouette: number } {
  const m = profiles.length;
  if (m < 3) return { labels: profiles.map(() => 0), k: m === 0 ? 0 : 1, silhouette: 0 };
  const candidates = fixedK ? [Math.min(fixedK, m)] : range(2, Math.min(maxK, m - 1));
  let best = { labels: [] as number[], k: 0, silhouette: -Infinity };
  if (method === "hierarchical") {
    const distances = correlationDistances(profiles);
    const tree = agnes(Array.from({ length: m }, (_, i) => Array.from(distances.subarray(i * m, (i + 1) * m))), { method: "average", isDistanceMatrix: true });
    for (const k of candidates) {
      const labels = new Array<number>(m).fill(0);
      tree.group(k).children.forEach((child, c) => child.indices().forEach((i) => (labels[i] = c)));
      const score = silhouette(distances, labels);
      if (score > best.silhouette) best = { labels: canonical(labels), k, silhouette: score };
    }
  } else {
    const z = profiles.map(standardize);
    const distances = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) distances[i * m + j] = Math.hypot(...z[i].map((v, c) => v - z[j][c]));
    for (const k of candidates) {
      const labels = kmeans(z, k, { seed, initialization: "kmeans++" }).clusters;
      const score = silhouette(distances, labels);
      if (score > best.silhouette) best = { labels: canonical(labels), k, silhouette: score };
    }
  }
  return { ...best, k: new Set(best.labels).size };
}

function embed(profiles: number[][], seed: number): SitePopulations["embeddings"] {
  const m = profiles.length;
  const z = profiles.map(standardize);
  const pca = new PCA(z, { center: true, scale: false }).predict(z, { nComponents: Math.min(2, z[0].length) }).to2DArray();
  const flat = (rows: number[][]): Matrix => ({ data: rows.flatMap((r) => [r[0] ?? 0, r[1] ?? 0]), shape: [m, 2] });
  // A flat profile standardises to zeros, exactly as far from every unit as every other (the square root of the
  // number of classes): t-SNE's perplexity search can then double its precision without end, and returned NaN for
  // every unit (mlp20's dead fc1:5 on MNIST's test images without the 7s).
  const varying = z.flatMap((row, u) => (row.some((v) => v !== 0) ? [u] : []));
  const v = varying.length;
  if (v < 6) return { pca: flat(pca), tsne: null, umap: null };
  const place = (rows: number[][]): Matrix => {
    const data = new Array<number>(2 * m).fill(Number.NaN);
    varying.forEach((u, i) => ((data[2 * u] = rows[i][0]), (data[2 * u + 1] = rows[i][1])));
    return { data, shape: [m, 2] };
  };
  const input = varying.map((u) => z[u]);
  const tsne = new TSNE(input, { perplexity: Math.max(2, Math.min(30, Math.floor((v - 1) / 3))), d: 2, seed }).transform(500) as number[][];
  const umap = new UMAP(input, { n_neighbors: Math.max(2, Math.min(15, v - 1)), d: 2, seed }).transform(200) as number[][];
  return { pca: flat(pca), tsne: place(tsne), umap: place(umap) };
}

/** (x − mean)/std per row; a constant row becomes zeros. */
function standardize(row: number[]): number[] {
  const mean = row.reduce((a, b) => a + b, 0) / row.length;
  const std = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length);
  return row.map((v) => (std === 0 ? 0 : (v - mean) / std));
}

/** Relabels so ids follow first appearance: the same grouping always gets the same ids. */
function canonical(labels: number[]): number[] {
  const map = new Map<number, number>();
  return labels.map((l) => (map.has(l) ? map.get(l)! : (map.set(l, map.size), map.size - 1)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
