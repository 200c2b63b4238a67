/**
 * Everything the report shows, gathered from a study directory's result files alone (never from memory of a run):
 * the report of a directory can be rebuilt at any time with `lesion report DIR`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseNpy } from "../data/npy.js";
import { readFileChecked } from "../files.js";
import { fail } from "../errors.js";
import { layerWeights } from "../onnx/layerWeights.js";
import { prepareGraph } from "../onnx/normalize.js";
import { decodeModel, tensorDims, tensorValues } from "../onnx/proto.js";
import type { SiteLocation } from "../onnx/sites.js";
import type { AblateSummary } from "../runs/ablateFiles.js";
import type { CharacterizeSummary } from "../runs/characterizeFiles.js";
import type { EvaluateResult } from "../study/evaluate.js";
import type { RecoverSummary } from "../runs/recoverFiles.js";
import { SUMMARY_FILE } from "../runs/resultDir.js";
import { STUDY_FILE } from "../runs/study.js";
import { minActiveSamples } from "../study/unitScores.js";

export interface ReportSite {
  name: string;
  units: number;
  kind: "dense" | "conv";
  dead: number[];
  /** Units in display order: by activation population, then by impact. */
  order: number[];
  population: number[];
  impactPopulation: number[];
  /** [unit][class] accuracy drop when the unit alone is zeroed. */
  impact: number[][];
  /** [unit][class] class-conditional mean activation. */
  classMeans: number[][];
  indicators: Record<string, Array<number | null>>;
  /** Selectivity's minimum activity: samples a unit must be active on (`minActiveSamples`), and the units below it. */
  minActive: { samples: number; below: number[] };
  correlations: Array<{ a: string; b: string; n: number | null; pearson: number | null; pearsonP: number | null; spearman: number | null; spearmanP: number | null }>;
  /** Unit coordinates (t-SNE when there is one, else PCA) with the method's name. */
  embedding: { method: string; points: Array<[number, number]> };
  groupings: Array<{ by: string; method: string; k: number; silhouette: number; populations: Array<{ id: number; units: number[]; delta: number; deltaPerClass: Array<number | null>; interaction: number[] }> }>;
  agreement: { ari: number; nmi: number };
  /** Pair sweep: [i, j, accuracy change, redundancy]. */
  pairs: Array<[number, number, number, number]> | null;
  /**
   * The most redundant pairs, class by class (Meyes et al. 2019): each class's accuracy drop under the pair, and the
   * part of it lost only jointly (redundancy × the class's intact accuracy); the rest is what either unit causes alone.
   */
  pairSplit: Array<{ units: [number, number]; drop: Array<number | null>; redundant: Array<number | null> }> | null;
  /** Bootstrap CIs of each unit's single-ablation accuracy change (`deltaIntervals`), by unit; null without them. */
  ci: { level: number; method: string; intervals: Array<[number, number]> } | null;
  /** Per unit, the change of the mean cross-entropy when it alone is ablated (null where the loss was not computed). */
  lossChange: Array<number | null>;
  /** Cumulative curves per class: per order and repeat, per class (fraction, accuracy) points. */
  classCurves: Array<{ order: string; repeat: number; perClass: Array<Array<[number, number | null]>> }>;
  /** Cumulative curves: per order and repeat, (fraction, accuracy) points. */
  curves: Array<{ order: string; repeat: number; points: Array<[number, number]> }>;
  /** First-layer incoming weights as images ([units][pixels]), when the site's layer reads the image. */
  weights: { width: number; height: number; values: number[][] } | null;
  findings: Findings;
}

/**
 * Filters of the first conv layer as colour tiles: filter f's kernel [C, k, k] is drawn as a k×k image whose pixel
 * (y, x) has, for channel c (R, G, B; a one-channel kernel is drawn grey), the byte
 * `round(127.5 · (1 + w[f, c, y, x] / m))` with m the largest |w| of that filter's channel c (128 where m is 0):
 * each channel is scaled symmetrically around 0, so 0 is mid-grey, the channel's largest positive weight 255 and its
 * most negative 0.
 */
export interface FilterTiles {
  /** The conv site (its ReLU or its output) whose layer reads the image. */
  site: string;
  channels: number;
  height: number;
  width: number;
  /** Per filter, [height·width·3] RGB bytes, row by row. */
  pixels: number[][];
}

/** The paper's findings for one site, in numbers a reader can check in the figures. */
export interface Findings {
  dead: number[];
  /** Most class-selective units with defined selectivity (above the minimum activity): selectivity, the class they prefer, and that class's drop when ablated. */
  selective: Array<{ unit: number; selectivity: number; preferred: string; drop: number }>;
  /** Units whose ablation costs at least 0.5 percentage points in the most classes. */
  broad: Array<{ unit: number; classes: number; drop: number }>;
  /** The most damaging single units. */
  important: Array<{ unit: number; drop: number; worstClass: string; worstDrop: number }>;
  /** The most redundant pairs (null without a pair sweep). */
  redundant: Array<{ units: [number, number]; redundancy: number; delta: number }> | null;
  /** Spearman correlation of an indicator with the single-unit accuracy drop, for weight change and the others. */
  predictors: Array<{ indicator: string; spearman: number | null; p: number | null }>;
}

export interface ReportData {
  model: string;
  data: string;
  n: number;
  classNames: string[];
  baseline: { accuracy: number; perClass: Array<number | null>; loss: number };
  initial: string | null;
  sites: ReportSite[];
  /** Mapped images (x, y, label) and, per condition, each image's outcome code as one digit of `codes`. */
  map: { points: Array<[number, number, number]>; conditions: Array<{ id: string; site: string; delta: number; codes: string }> } | null;
  recovery: RecoverSummary | null;
  /** The per-epoch history lesion's training wrote beside the model (`MODEL.history.json`), when there is one. */
  training: { arch: string; data: string; history: Array<{ epoch: number; trainLoss: number; testAccuracy: number | null }> } | null;
  /**
   * Study B of Meyes et al. 2019 (their VGG study): every studied site in depth order (graph order, 1 = nearest the
   * input), with its cumulative ablation curve in random order, the mean over the fractions step's repeats (no new
   * computation): (fraction of the site's units ablated, accuracy) overall and per class, fraction 0 the intact
   * network. Empty without a fractions step.
   */
  depth: Array<{ site: string; kind: "dense" | "conv"; depth: number; units: number; repeats: number; points: Array<[number, number]>; perClass: Array<Array<[number, number | null]>> }>;
  /** The first conv layer's filters as RGB tiles (`filterTiles`); null when the study has no conv site reading the image. */
  filters: FilterTiles | null;
  /** `explorer.html` when `lesion explore … -o DIR/explorer.html` wrote one beside the report (linked from the page). */
  explorer: string | null;
}

/** The live explorer's file name in a study directory. */
export const EXPLORER_FILE = "explorer.html";

const round = (v: number | null) => (v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4)));

export function reportData(dir: string): ReportData {
  if (!existsSync(join(dir, STUDY_FILE))) fail("missing-file", `${dir} is neither a study directory (no ${STUDY_FILE}) nor a transplant's (no summary.json of lesion transplant); run lesion study or lesion transplant first`, { path: dir });
  const meta = JSON.parse(readFileSync(join(dir, STUDY_FILE), "utf8")) as { model: string; modelPath: string | null; data: string; n: number; sites: string[]; initial: string | null };
  const summary = <T>(step: string): T | null => (existsSync(join(dir, step, SUMMARY_FILE)) ? (JSON.parse(readFileSync(join(dir, step, SUMMARY_FILE), "utf8")) as T) : null);
  const evaluation = summary<EvaluateResult>("eval");
  const singles = summary<AblateSummary>("singles");
  const characterized = summary<CharacterizeSummary>("characterize");
  const curves = summary<AblateSummary>("fractions");
  if (!evaluation || !singles || !characterized) fail("missing-file", `${dir} has no finished eval, singles or characterize step; rerun lesion study on it`, { path: dir });
  const k = evaluation.classNames.length;
  const proto = meta.modelPath && existsSync(meta.modelPath) ? decodeModel(readFileChecked(meta.modelPath, "model"), meta.modelPath) : null;
  // Named as openModel names them, so the names are the ones the study's files use.
  const siteLocations = proto && meta.modelPath ? prepareGraph(proto, { dir: dirname(meta.modelPath), name: meta.modelPath }).sites : [];

  const sites = meta.sites.map((name): ReportSite => {
    const ind = characterized.indicators.sites.find((s) => s.site === name)!;
    const groups = characterized.populations.find((p) => p.site === name)!;
    const byActivation = groups.groupings.find((g) => g.by === "activation" && g.method === "hierarchical")!;
    const byImpact = groups.groupings.find((g) => g.by === "impact" && g.method === "hierarchical")!;
    const impact = Array.from({ length: ind.units }, (_, u) => Array.from({ length: k }, (_, c) => round(Number(ind.impactProfile.data[u * k + c]))!));
    const order = Array.from({ length: ind.units }, (_, u) => u).sort((a, b) => byActivation.labels[a] - byActivation.labels[b] || ind.impact[b] - ind.impact[a] || a - b);
    const pairsSummary = summary<AblateSummary>(`pairs-${name}`);
    const embedding = groups.embeddings.tsne ?? groups.embeddings.pca;
    const location = siteLocations.find((s) => s.name === name);
    const weights = proto && location?.layer ? layerWeights(proto, location.layer) : null;
    // Weight images for a first dense layer reading square one-channel images (MNIST-like).
    const side = Math.sqrt(weights?.fanIn ?? 0);
    const isImage = weights !== null && ind.kind === "dense" && Number.isInteger(side) && side > 1 && name === meta.sites[0];
    const ofSite = singles.conditions.filter((c) => c.site === name);
    const byUnit = new Map(ofSite.map((c) => [c.units[0], c]));
    const pairSplit = pairsSummary
      ? [...pairsSummary.conditions]
          .sort((a, b) => (b.redundancy?.overall ?? 0) - (a.redundancy?.overall ?? 0))
          .slice(0, 10)
          .map((c) => ({
            units: [c.units[0], c.units[1]] as [number, number],
            drop: c.deltaPerClass.map((d) => (d === null ? null : round(0 - d))),
            redundant: (c.redundancy?.perClass ?? []).map((r, j) => (r === null || evaluation.perClass[j] === null ? null : round(r * evaluation.perClass[j]!))),
          }))
      : null;
    const pairList = pairsSummary ? pairsSummary.conditions.map((c) => [c.units[0], c.units[1], round(c.delta)!, round(c.redundancy?.overall ?? 0)!] as [number, number, number, number]) : null;
    return {
      findings: findings(ind, impact, evaluation.classNames, pairList, characterized.correlations.find((t) => t.scope === name)?.entries ?? []),
      name,
      units: ind.units,
      kind: ind.kind,
      dead: ind.dead,
      order,
      population: byActivation.labels,
      impactPopulation: byImpact.labels,
      impact,
      classMeans: Array.from({ length: ind.units }, (_, u) => Array.from({ length: k }, (_, c) => round(Number(ind.classMeans.data[c * ind.units + u]))!)),
      indicators: Object.fromEntries(
        (["magnitude", "selectivity", "fractionActive", "weightL1", "weightL2", "weightChange", "mannWhitneyP", "impact", "impactMaxClass"] as const)
          .filter((key) => ind[key] !== null)
          .map((key) => [key, (ind[key] as number[]).map(round)]),
      ),
      minActive: { samples: minActiveSamples(characterized.indicators.n), below: ind.selectivity.flatMap((v, u) => (v === null && !ind.dead.includes(u) ? [u] : [])) },
      correlations: (characterized.correlations.find((t) => t.scope === name)?.entries ?? []).map((e) => ({ a: e.a, b: e.b, n: e.n ?? null, pearson: round(e.pearson.r), pearsonP: round(e.pearson.p), spearman: round(e.spearman.r), spearmanP: round(e.spearman.p) })),
      embedding: { method: groups.embeddings.tsne ? "t-SNE" : "PCA", points: Array.from({ length: ind.units }, (_, u) => [round(Number(embedding.data[2 * u]))!, round(Number(embedding.data[2 * u + 1]))!]) },
      groupings: groups.groupings.map((g) => ({
        by: g.by,
        method: g.method,
        k: g.k,
        silhouette: round(g.silhouette)!,
        populations: g.populations.map((p) => ({ id: p.id, units: p.units, delta: round(p.ablation.delta)!, deltaPerClass: p.ablation.deltaPerClass.map(round), interaction: p.ablation.interaction.map((v) => round(v)!) })),
      })),
      agreement: { ari: round(groups.agreement.ari)!, nmi: round(groups.agreement.nmi)! },
      pairs: pairList,
      pairSplit,
      ci: singles.deltaCi
        ? { ...singles.deltaCi, intervals: Array.from({ length: ind.units }, (_, u) => (byUnit.get(u)?.deltaCi ?? [0, 0]).map((v) => round(v)!) as [number, number]) }
        : null,
      lossChange: Array.from({ length: ind.units }, (_, u) => {
        const loss = byUnit.get(u)?.loss;
        return typeof loss === "number" && singles.baseline.loss !== null ? round(loss - singles.baseline.loss) : null;
      }),
      classCurves: classCurveSeries(curves, name, k),
      curves: curveSeries(curves, name),
      weights: isImage ? { width: side, height: side, values: Array.from({ length: weights!.units }, (_, u) => Array.from(weights!.weight.subarray(u * weights!.fanIn, (u + 1) * weights!.fanIn), (v) => round(v)!)) } : null,
    };
  });
  return {
    model: meta.model,
    data: meta.data,
    n: meta.n,
    classNames: evaluation.classNames,
    baseline: { accuracy: evaluation.accuracy, perClass: evaluation.perClass, loss: evaluation.loss },
    initial: meta.initial,
    sites,
    map: stimulusOutcomes(dir, characterized, singles, sites.map((s) => s.name)),
    recovery: summary<RecoverSummary>("recover"),
    training: trainingHistory(meta.modelPath),
    explorer: existsSync(join(dir, EXPLORER_FILE)) ? EXPLORER_FILE : null,
    depth: depthCurves(curves, meta.sites, siteLocations.map((l) => l.name), sites, k),
    filters: firstConvFilters(proto, siteLocations, sites),
  };
}

function findings(
  ind: CharacterizeSummary["indicators"]["sites"][number],
  impact: number[][],
  classNames: string[],
  pairs: Array<[number, number, number, number]> | null,
  correlations: CharacterizeSummary["correlations"][number]["entries"],
): Findings {
  const k = classNames.length;
  const live = Array.from({ length: ind.units }, (_, u) => u).filter((u) => !ind.dead.includes(u));
  const preferred = (u: number) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (Number(ind.classMeans.data[c * ind.units + u]) > Number(ind.classMeans.data[best * ind.units + u])) best = c;
    return best;
  };
  const top = <T>(items: T[], score: (t: T) => number, n = 3) => [...items].sort((a, b) => score(b) - score(a)).slice(0, n);
  return {
    dead: ind.dead,
    selective: top(live.filter((u) => ind.selectivity[u] !== null), (u) => ind.selectivity[u]!).map((u) => ({ unit: u, selectivity: round(ind.selectivity[u])!, preferred: classNames[preferred(u)], drop: round(impact[u][preferred(u)])! })),
    broad: top(live, (u) => impact[u].filter((d) => d >= 0.005).length * 10 + ind.impact[u])
      .map((u) => ({ unit: u, classes: impact[u].filter((d) => d >= 0.005).length, drop: round(ind.impact[u])! })),
    important: top(live, (u) => ind.impact[u]).map((u) => {
      const worst = impact[u].indexOf(Math.max(...impact[u]));
      return { unit: u, drop: round(ind.impact[u])!, worstClass: classNames[worst], worstDrop: impact[u][worst] };
    }),
    redundant: pairs ? top(pairs, (p) => p[3]).map(([a, b, delta, redundancy]) => ({ units: [a, b], redundancy, delta })) : null,
    predictors: correlations.filter((e) => e.b === "impact").map((e) => ({ indicator: e.a, spearman: round(e.spearman.r), p: round(e.spearman.p) })),
  };
}

function curveSeries(curves: AblateSummary | null, site: string): ReportSite["curves"] {
  if (!curves) return [];
  const series = new Map<string, { order: string; repeat: number; points: Array<[number, number]> }>();
  for (const c of curves.conditions) {
    if (c.site !== site || !c.label) continue;
    // Labels read "<fraction> <order>[ #<repeat>]".
    const [fraction, order, repeat] = c.label.split(" ");
    const key = `${order} ${repeat ?? ""}`;
    if (!series.has(key)) series.set(key, { order, repeat: repeat ? Number(repeat.slice(1)) : 1, points: [[0, curves.baseline.accuracy]] });
    series.get(key)!.points.push([Number(fraction), round(c.accuracy)!]);
  }
  return [...series.values()];
}

function classCurveSeries(curves: AblateSummary | null, site: string, k: number): ReportSite["classCurves"] {
  if (!curves) return [];
  const series = new Map<string, ReportSite["classCurves"][number]>();
  for (const c of curves.conditions) {
    if (c.site !== site || !c.label) continue;
    const [fraction, order, repeat] = c.label.split(" ");
    const key = `${order} ${repeat ?? ""}`;
    if (!series.has(key)) series.set(key, { order, repeat: repeat ? Number(repeat.slice(1)) : 1, perClass: Array.from({ length: k }, (_, j) => [[0, curves.baseline.perClass[j]]]) });
    series.get(key)!.perClass.forEach((points, j) => points.push([Number(fraction), round(c.perClass[j])]));
  }
  return [...series.values()];
}

/**
 * Study B's rows: the random-order curves of every site, averaged over repeats, sites sorted by their position in the
 * graph (the order `locateSites` finds them in; the study's own order where the model file is gone).
 */
function depthCurves(curves: AblateSummary | null, studied: string[], graphOrder: string[], sites: ReportSite[], k: number): ReportData["depth"] {
  if (!curves) return [];
  const position = (name: string) => (graphOrder.includes(name) ? graphOrder.indexOf(name) : graphOrder.length + studied.indexOf(name));
  const ordered = [...studied].sort((a, b) => position(a) - position(b));
  return ordered.flatMap((name, i) => {
    const site = sites.find((s) => s.name === name)!;
    const random = curveSeries(curves, name).filter((c) => c.order === "random");
    const randomClasses = classCurveSeries(curves, name, k).filter((c) => c.order === "random");
    if (random.length === 0) return [];
    const mean = (values: Array<number | null>) => {
      const known = values.filter((v): v is number => v !== null);
      return known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0) / known.length);
    };
    const points = random[0].points.map(([fraction], j): [number, number] => [fraction, mean(random.map((c) => c.points[j][1]))!]);
    const perClass = Array.from({ length: k }, (_, c) => random[0].points.map(([fraction], j): [number, number | null] => [fraction, mean(randomClasses.map((r) => r.perClass[c][j][1]))]));
    return [{ site: name, kind: site.kind, depth: i + 1, units: site.units, repeats: random.length, points, perClass }];
  });
}

/**
 * The filters of the graph's first Conv (in node order, which is topological: the one that reads the image, after any
 * normalisation), when a studied site is its output (see `FilterTiles`).
 */
function firstConvFilters(proto: ReturnType<typeof decodeModel> | null, locations: SiteLocation[], sites: ReportSite[]): FilterTiles | null {
  if (!proto) return null;
  const graph = proto.graph!;
  const node = (graph.node ?? []).find((n) => n.opType === "Conv");
  const location = node?.name ? locations.find((l) => l.layer === node.name && sites.some((s) => s.name === l.name && s.kind === "conv")) : undefined;
  if (node && location) {
    const tensor = (graph.initializer ?? []).find((t) => t.name === node.input?.[1]);
    if (!tensor) return null;
    const dims = tensorDims(tensor);
    if (dims.length !== 4 || (dims[1] !== 1 && dims[1] !== 3)) return null;
    const [filters, channels, height, width] = dims;
    const values = tensorValues(tensor) as ArrayLike<number>;
    const area = height * width;
    const pixels = Array.from({ length: filters }, (_, f) => {
      const out = new Array<number>(area * 3);
      for (let c = 0; c < channels; c++) {
        const base = (f * channels + c) * area;
        let m = 0;
        for (let p = 0; p < area; p++) m = Math.max(m, Math.abs(values[base + p]));
        for (let p = 0; p < area; p++) {
          const byte = m === 0 ? 128 : Math.round(127.5 * (1 + values[base + p] / m));
          if (channels === 1) out.fill(byte, 3 * p, 3 * p + 3);
          else out[3 * p + c] = byte;
        }
      }
      return out;
    });
    return { site: location.name, channels, height, width, pixels };
  }
  return null;
}

/** `MODEL.history.json`, written by `lesion train` (and the default model) beside the model. */
function trainingHistory(modelPath: string | null): ReportData["training"] {
  const path = modelPath?.replace(/\.onnx$/, ".history.json");
  if (!path || path === modelPath || !existsSync(path)) return null;
  try {
    const file = JSON.parse(readFileSync(path, "utf8")) as { arch: string; data: string; history: Array<{ epoch: number; trainLoss: number; testAccuracy: number | null }> };
    if (!Array.isArray(file.history)) return null;
    return { arch: file.arch, data: file.data, history: file.history.map((e) => ({ epoch: e.epoch, trainLoss: round(e.trainLoss)!, testAccuracy: round(e.testAccuracy) })) };
  } catch {
    // A history file that is not lesion's is not the report's business.
    return null;
  }
}

/**
 * The stimulus map with, for the most damaging single units and the most redundant pairs of each site, each mapped
 * image's outcome: 0 kept, 1 lost, 2 gained, 3 lost only jointly (pairs), 4 wrong both times (codes of sampleOutcomes).
 */
function stimulusOutcomes(dir: string, characterized: CharacterizeSummary, singles: AblateSummary, sites: string[]): ReportData["map"] {
  const map = characterized.stimulusMap;
  if (!map) return null;
  const index = new Map(map.samples.map((s, i) => [s, i]));
  const step = (name: string) => ({ predictions: readNpy(join(dir, name, "predictions.npy")), changes: readNpy(join(dir, name, "changes.npy")) });
  const singlesFiles = step("singles");
  // Predictions of the mapped images under condition i of a step.
  const after = (files: { predictions: Int32Array; changes: Int32Array }, i: number) => {
    const now = map.samples.map((s) => files.predictions[s]);
    for (let r = 0; r < files.changes.length / 3; r++) {
      if (files.changes[3 * r] !== i) continue;
      const at = index.get(files.changes[3 * r + 1]);
      if (at !== undefined) now[at] = files.changes[3 * r + 2];
    }
    return now;
  };
  const outcome = (now: number[], alone: number[][] | null) =>
    map.samples.map((s, j): number => {
      const label = map.labels[j];
      const before = singlesFiles.predictions[s] === label;
      if (before && now[j] === label) return 0;
      if (before) return alone && alone.every((p) => p[j] === label) ? 3 : 1;
      return now[j] === label ? 2 : 4;
    });
  const conditions: NonNullable<ReportData["map"]>["conditions"] = [];
  for (const site of sites) {
    const ofSite = singles.conditions.map((c, i) => ({ c, i })).filter(({ c }) => c.site === site);
    // Every unit of the site, most damaging first.
    for (const { c, i } of [...ofSite].sort((a, b) => a.c.delta - b.c.delta || a.c.units[0] - b.c.units[0])) {
      conditions.push({ id: c.id, site, delta: round(c.delta)!, codes: outcome(after(singlesFiles, i), null).join("") });
    }
    if (!existsSync(join(dir, `pairs-${site}`, SUMMARY_FILE))) continue;
    const pairs = JSON.parse(readFileSync(join(dir, `pairs-${site}`, SUMMARY_FILE), "utf8")) as AblateSummary;
    const pairFiles = step(`pairs-${site}`);
    // The 20 most redundant pairs and the 20 most damaging ones.
    const all = pairs.conditions.map((c, i) => ({ c, i }));
    const redundant = [...all].sort((a, b) => (b.c.redundancy?.overall ?? 0) - (a.c.redundancy?.overall ?? 0)).slice(0, 20);
    const damaging = [...all].sort((a, b) => a.c.delta - b.c.delta).slice(0, 20);
    for (const { c, i } of [...new Set([...redundant, ...damaging])]) {
      const alone = c.units.map((u) => after(singlesFiles, ofSite.find((o) => o.c.units[0] === u)!.i));
      conditions.push({ id: c.id, site, delta: round(c.delta)!, codes: outcome(after(pairFiles, i), alone).join("") });
    }
  }
  return { points: map.samples.map((_, j) => [round(Number(map.coordinates.data[2 * j]))!, round(Number(map.coordinates.data[2 * j + 1]))!, map.labels[j]]), conditions };
}

function readNpy(path: string): Int32Array {
  const array = parseNpy(readFileChecked(path, "result file"), path);
  const copy = new Uint8Array(array.data);
  return new Int32Array(copy.buffer);
}
