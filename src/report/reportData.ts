/**
 * Everything the report shows, gathered from a study directory's result files alone (never from memory of a run):
 * the report of a directory can be rebuilt at any time with `lesion report DIR`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { readFileChecked, shellWord } from "../files.js";
import { fail } from "../errors.js";
import { layerWeights } from "../onnx/layerWeights.js";
import { prepareGraph } from "../onnx/normalize.js";
import { decodeModel } from "../onnx/proto.js";
import { readAblateFiles, type AblateFilesRead } from "../runs/ablateFiles.js";
import type { CharacterizeSummary } from "../runs/characterizeFiles.js";
import type { EvaluateResult } from "../engine/evaluate.js";
import type { RecoverSummary } from "../runs/recoverFiles.js";
import { pairsStep, SUMMARY_FILE } from "../runs/resultDir.js";
import { STUDY_FILE, studySteps, studyWarnings } from "../runs/study.js";
import { minActiveSamples } from "../study/unitScores.js";
import { classCurveSeries, curveSeries, depthCurves, type ClassCurveSeries, type CurveSeries, type DepthCurve } from "./depthCurves.js";
import { findings, type Findings } from "./findings.js";
import { firstConvFilters, type FilterTiles } from "./firstConvFilters.js";
import { noiseless, round } from "./round.js";
import { stimulusOutcomes, type StimulusOutcomes } from "./stimulusOutcomes.js";

export type { FilterTiles } from "./firstConvFilters.js";
export type { Findings } from "./findings.js";

/** One studied site's part of the study report: its units' scores, groupings, pairs, curves and findings. */
export interface ReportSite {
  /** The site's name. */
  name: string;
  /** Number of units. */
  units: number;
  /** The site's kind (see `Site.kind`). */
  kind: "dense" | "conv";
  /** The dead units (exactly 0 on every sample), ascending. */
  dead: number[];
  /** Units in display order: by activation population, then by impact. */
  order: number[];
  /** [unit] its population id in the hierarchical grouping by activation profile; −1 for a dead unit. */
  population: number[];
  /** [unit] its population id in the hierarchical grouping by impact profile; −1 for a dead unit. */
  impactPopulation: number[];
  /** [unit][class] accuracy drop when the unit alone is zeroed; null for a class without samples. */
  impact: Array<Array<number | null>>;
  /** [unit][class] class-conditional mean activation; null for a class without samples. */
  classMeans: Array<Array<number | null>>;
  /** Per indicator name (INDICATOR_NAMES, those the site has), [unit] its value; null where undefined. */
  indicators: Record<string, Array<number | null>>;
  /** Selectivity's minimum activity: samples a unit must be active on (`minActiveSamples`), and the units below it. */
  minActive: { samples: number; below: number[] };
  /** The site's indicator correlations (`CorrelationTable` entries): r and two-sided p, Pearson and Spearman. */
  correlations: Array<{ a: string; b: string; n: number | null; pearson: number | null; pearsonP: number | null; spearman: number | null; spearmanP: number | null }>;
  /**
   * Unit coordinates (t-SNE when there is one, else PCA) with the method's name: [unit] its 2-D place; null for a unit
   * t-SNE does not place (a flat activation profile: a dead unit).
   */
  embedding: { method: string; points: Array<[number | null, number | null]> };
  /** The four groupings (`Grouping`), each population with its group ablation's delta, deltaPerClass and interaction (signed fractions). */
  groupings: Array<{ by: string; method: string; k: number; silhouette: number; capped: boolean; populations: Array<{ id: number; units: number[]; delta: number; deltaPerClass: Array<number | null>; interaction: Array<number | null> }> }>;
  /** Agreement of the activation and impact groupings (hierarchical): adjusted Rand index and NMI. */
  agreement: { ari: number; nmi: number };
  /** Pair sweep: [i, j, accuracy change, redundancy]. */
  pairs: Array<[number, number, number, number]> | null;
  /**
   * The most redundant pairs, class by class (Meyes et al. 2019): each class's accuracy drop under the pair, and the
   * part of it lost only jointly (redundancy × the class's intact accuracy); the rest is what either unit causes alone.
   */
  pairSplit: Array<{ units: [number, number]; drop: Array<number | null>; redundant: Array<number | null> }> | null;
  /** Bootstrap CIs of each unit's single-ablation accuracy change (`deltaIntervals`), by unit (null for a unit the singles step lacks); null without them. */
  ci: { level: number; method: string; intervals: Array<[number, number] | null> } | null;
  /** Per unit, the change of the mean cross-entropy when it alone is ablated (null where the loss was not computed). */
  lossChange: Array<number | null>;
  /** Cumulative curves per class: per order and repeat, per class (fraction, accuracy) points. */
  classCurves: ClassCurveSeries;
  /** Cumulative curves: per order and repeat, (fraction, accuracy) points. */
  curves: CurveSeries;
  /** First-layer incoming weights as images ([units][pixels]), when the site's layer reads the image. */
  weights: { width: number; height: number; values: number[][] } | null;
  /** The site's findings in numbers (dead, selective, broad, important units, redundant pairs, predictors). */
  findings: Findings;
}


/** Everything the study report shows, JSON-ready (numbers cut to 4 digits), from `reportData(dir)`. */
export interface ReportData {
  /** The model's name (study.json). */
  model: string;
  /** The data's normalised spec. */
  data: string;
  /** Number of samples. */
  n: number;
  /** One name per class, in class order. */
  classNames: string[];
  /** The intact network (the eval step): accuracy and per-class accuracy (fractions 0..1), mean cross-entropy (nats). */
  baseline: { accuracy: number; perClass: Array<number | null>; loss: number };
  /** The initial model's name, or null when the study had none. */
  initial: string | null;
  /** One entry per studied site, in the study's order. */
  sites: ReportSite[];
  /** Mapped images (x, y, label) and, per condition, each image's outcome code as one digit of `codes`. */
  map: StimulusOutcomes | null;
  /** The recover step's summary; null without a recovery. */
  recovery: RecoverSummary | null;
  /**
   * The per-epoch history lesion's training wrote beside the model (`MODEL.history.json`), when there is one. `test`:
   * the data the test accuracy is measured on (the history's; null when none or not recorded).
   */
  training: { arch: string; data: string; test: string | null; history: Array<{ epoch: number; trainLoss: number; testAccuracy: number | null }> } | null;
  /**
   * Study B of Meyes et al. 2019 (their VGG study): every studied site in depth order (graph order, 1 = nearest the
   * input), with its cumulative ablation curve in random order, the mean over the fractions step's repeats (no new
   * computation): (fraction of the site's units ablated, accuracy) overall and per class, fraction 0 the intact
   * network. Empty without a fractions step.
   */
  depth: DepthCurve[];
  /** The first conv layer's filters as RGB tiles (`filterTiles`); null when the study has no conv site reading the image. */
  filters: FilterTiles | null;
  /** `explorer.html` when `lesion explore … -o DIR/explorer.html` wrote one beside the report (linked from the page). */
  explorer: string | null;
  /** The `lesion explore` command that writes the explorer beside this report: the studied model's path and the study directory, absolute (a trial had to find the cached default model in study.json). */
  explorerCommand: string;
  /** The steps' warnings (studyWarnings), shown at the top of the page. */
  warnings: string[];
}

/** The live explorer's file name in a study directory. */
export const EXPLORER_FILE = "explorer.html";


/**
 * The study report's data from the result files of study directory `dir` (study.json, the eval, singles,
 * characterize, fractions, pairs-SITE and recover steps' summaries and .npy files, the model file study.json names).
 * @throws LesionError `missing-file` when `dir` holds no study.json or no finished eval, singles or characterize step.
 */
export function reportData(dir: string): ReportData {
  if (!existsSync(join(dir, STUDY_FILE))) fail("missing-file", `${dir} is neither a study directory (no ${STUDY_FILE}) nor a transplant's (no summary.json of lesion transplant); run lesion study or lesion transplant first`, { path: dir });
  const meta = JSON.parse(readFileSync(join(dir, STUDY_FILE), "utf8")) as { model: string; modelPath: string | null; data: string; n: number; sites: string[]; initial: string | null };
  // Only this study's steps: the directory may also hold pairs or a recovery of the same network from an earlier study.
  const planned = studySteps(dir);
  const finished = (step: string) => (planned === null || planned.includes(step)) && existsSync(join(dir, step, SUMMARY_FILE));
  const summary = <T>(step: string): T | null => (finished(step) ? (JSON.parse(readFileSync(join(dir, step, SUMMARY_FILE), "utf8")) as T) : null);
  // An ablate step with its per-class numbers, which its files hold rather than its summary.
  const ablateStep = (step: string): AblateFilesRead | null => (finished(step) ? readAblateFiles(join(dir, step)) : null);
  const evaluation = summary<EvaluateResult>("eval");
  const singles = ablateStep("singles")?.summary;
  const characterized = summary<CharacterizeSummary>("characterize");
  const curves = ablateStep("fractions");
  // The report is built on these three; another step that did not finish is left out, with a warning.
  if (!evaluation || !singles || !characterized) {
    const unfinished = [["eval", evaluation], ["singles", singles], ["characterize", characterized]].filter(([, done]) => !done).map(([step]) => step as string);
    fail("missing-file", `${dir}: the study's ${unfinished.join(", ")} step${unfinished.length > 1 ? "s" : ""}, which the report is built on, did not finish; rerun the same lesion study to finish ${unfinished.length > 1 ? "them" : "it"} (it resumes)`, { path: dir });
  }
  const k = evaluation.classNames.length;
  const proto = meta.modelPath && existsSync(meta.modelPath) ? decodeModel(readFileChecked(meta.modelPath, "model"), meta.modelPath) : null;
  // Named as openModel names them, so the names are the ones the study's files use.
  const siteLocations = proto && meta.modelPath ? prepareGraph(proto, { dir: dirname(meta.modelPath), name: meta.modelPath }).sites : [];

  const sites = meta.sites.map((name): ReportSite => {
    const ind = characterized.indicators.sites.find((s) => s.site === name)!;
    const groups = characterized.populations.find((p) => p.site === name)!;
    const byActivation = groups.groupings.find((g) => g.by === "activation" && g.method === "hierarchical")!;
    const byImpact = groups.groupings.find((g) => g.by === "impact" && g.method === "hierarchical")!;
    const impact = Array.from({ length: ind.units }, (_, u) => Array.from({ length: k }, (_, c) => round(ind.impactProfile.data[u * k + c])));
    const order = Array.from({ length: ind.units }, (_, u) => u).sort((a, b) => byActivation.labels[a] - byActivation.labels[b] || ind.impact[b] - ind.impact[a] || a - b);
    const pairsRun = ablateStep(pairsStep(name, meta.sites));
    const embedding = groups.embeddings.tsne ?? groups.embeddings.pca;
    const location = siteLocations.find((s) => s.name === name);
    const weights = proto && location?.layer ? layerWeights(proto, location.layer) : null;
    // Weight images for a first dense layer reading square one-channel images (MNIST-like).
    const side = Math.sqrt(weights?.fanIn ?? 0);
    const isImage = weights !== null && ind.kind === "dense" && Number.isInteger(side) && side > 1 && name === meta.sites[0];
    const ofSite = singles.conditions.filter((c) => c.site === name);
    const byUnit = new Map(ofSite.map((c) => [c.units[0], c]));
    const pairSplit = pairsRun
      ? pairsRun.summary.conditions
          .map((c, i) => ({ c, i }))
          .sort((a, b) => (b.c.redundancy ?? 0) - (a.c.redundancy ?? 0))
          .slice(0, 10)
          .map(({ c, i }) => ({
            units: [c.units[0], c.units[1]] as [number, number],
            drop: pairsRun.deltaPerClass(i).map((d) => (d === null ? null : round(0 - d))),
            redundant: (pairsRun.redundancy(i) ?? []).map((r, j) => (r === null || evaluation.perClass[j] === null ? null : round(r * evaluation.perClass[j]!))),
          }))
      : null;
    const pairList = pairsRun ? pairsRun.summary.conditions.map((c) => [c.units[0], c.units[1], round(c.delta)!, round(c.redundancy ?? 0)!] as [number, number, number, number]) : null;
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
      classMeans: Array.from({ length: ind.units }, (_, u) => Array.from({ length: k }, (_, c) => round(ind.classMeans.data[c * ind.units + u]))),
      indicators: Object.fromEntries(
        (["magnitude", "selectivity", "fractionActive", "weightL1", "weightL2", "weightChange", "mannWhitneyP", "impact", "impactMaxClass"] as const)
          .filter((key) => ind[key] !== null)
          .map((key) => [key, (ind[key] as number[]).map(round)]),
      ),
      minActive: { samples: minActiveSamples(characterized.indicators.n), below: ind.selectivity.flatMap((v, u) => (v === null && !ind.dead.includes(u) ? [u] : [])) },
      correlations: (characterized.correlations.find((t) => t.scope === name)?.entries ?? []).map((e) => ({ a: e.a, b: e.b, n: e.n ?? null, pearson: round(e.pearson.r), pearsonP: round(e.pearson.p), spearman: round(e.spearman.r), spearmanP: round(e.spearman.p) })),
      embedding: { method: groups.embeddings.tsne ? "t-SNE" : "PCA", points: Array.from({ length: ind.units }, (_, u) => [round(embedding.data[2 * u]), round(embedding.data[2 * u + 1])]) },
      groupings: groups.groupings.map((g) => ({
        by: g.by,
        method: g.method,
        k: g.k,
        silhouette: round(g.silhouette)!,
        // Written by characterize before the flag existed: not known to be capped.
        capped: g.capped ?? false,
        populations: g.populations.map((p) => ({ id: p.id, units: p.units, delta: round(p.ablation.delta)!, deltaPerClass: p.ablation.deltaPerClass.map(round), interaction: p.ablation.interaction.map(noiseless) })),
      })),
      agreement: { ari: round(groups.agreement.ari)!, nmi: round(groups.agreement.nmi)! },
      pairs: pairList,
      pairSplit,
      ci: singles.deltaCi
        ? { ...singles.deltaCi, intervals: Array.from({ length: ind.units }, (_, u) => {
              const ci = byUnit.get(u)?.deltaCi;
              return ci ? [round(ci[0])!, round(ci[1])!] : null;
            }),
          }
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
    explorerCommand: `lesion explore ${shellWord(meta.modelPath ?? "MODEL")} --data ${shellWord(meta.data)} -o ${shellWord(join(resolve(dir), EXPLORER_FILE))}`,
    warnings: studyWarnings(dir),
    depth: depthCurves(curves, meta.sites, siteLocations.map((l) => l.name), sites, k),
    filters: firstConvFilters(proto, siteLocations, sites),
  };
}

/** `MODEL.history.json`, written by `lesion train` (and the default model) beside the model. */
function trainingHistory(modelPath: string | null): ReportData["training"] {
  const path = modelPath?.replace(/\.onnx$/, ".history.json");
  if (!path || path === modelPath || !existsSync(path)) return null;
  try {
    const file = JSON.parse(readFileSync(path, "utf8")) as { arch: string; data: string; test?: string | null; history: Array<{ epoch: number; trainLoss: number; testAccuracy: number | null }> };
    if (!Array.isArray(file.history)) return null;
    return { arch: file.arch, data: file.data, test: file.test ?? null, history: file.history.map((e) => ({ epoch: e.epoch, trainLoss: round(e.trainLoss)!, testAccuracy: round(e.testAccuracy) })) };
  } catch {
    // A history file that is not lesion's is not the report's business.
    return null;
  }
}
