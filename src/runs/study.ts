/**
 * The whole study in one call (Meyes et al. 2019, 2020): evaluation, recording, every single unit of every site
 * ablated, pairs where cheap (or asked for), indicators, populations and their group ablations, cumulative ablation
 * curves (Morcos et al. 2018) and, on request, recovery training of the most damaging population. Each step writes its
 * own result directory under `dir` (summary.json last). A step is reused only when everything it depends on is the
 * same: its `run.json` names the model's SHA-256, the data's identity (spec and a SHA-256 of the loaded content),
 * the sites and every option of the step; otherwise the step is recomputed and its old files replaced. So a rerun
 * after a kill continues where it stopped (sweeps resume inside a step from their resume logs), and a study of
 * another model, data set or sites in the same directory never shows the earlier one's numbers: step directories of
 * another model or data set are removed before the first step runs.
 */
import { fail, isLesionError } from "../errors.js";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { dataIdentity } from "../data/dataIdentity.js";
import type { Dataset } from "../data/types.js";
import { hiddenSites, requireFiniteWeights, resolveSite, type LesionModel } from "../engine/model.js";
import { checkInitial } from "../study/indicators.js";
import { ensureDir, guardWrite, writeFileAtomic } from "../files.js";
import { ablate, type AblateResult } from "../study/ablate.js";
import { readTiesWarning, unresolvedTiesWarning } from "../study/tiesWarning.js";
import { ablateFiles } from "./ablateFiles.js";
import { characterize } from "../study/characterize.js";
import { characterizeFiles } from "./characterizeFiles.js";
import { deltaIntervals } from "../study/deltaIntervals.js";
import { fractions, pairs, singles, type Condition } from "../study/conditions.js";
import { evaluate } from "../engine/evaluate.js";
import { checkData } from "../engine/forward.js";
import { planSweep } from "../engine/sweep/sweep.js";
import type { Progress, StudyStep } from "../progress.js";
import { record } from "../engine/record.js";
import { recordFiles } from "./recordFiles.js";
import { checkLearningRate } from "../engine/train.js";
import { recover } from "../models/recover.js";
import { recoverableSite } from "../models/recoverSite.js";
import { recoverFiles } from "./recoverFiles.js";
import { provenance } from "./provenance.js";
import { refuseForeignDir } from "./foreignDir.js";
import { acquireLock } from "./lock.js";
import { holdsRun, LESION_VERSION, openResultDir, pairsStep, readRun, REPORT_FILE, RESUME_LOG_FILE, RESUME_STATE_FILE, STUDY_FILE, SUMMARY_FILE, toJson, type ResultDir, type RunIdentity } from "./resultDir.js";
import { selectivity } from "../study/unitScores.js";

/** The fractions of each site's units the cumulative curves (and Study B) ablate by default. */
const DEFAULT_FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/** Options of `study` (`lesion study`'s flags). */
export interface StudyOptions {
  /** The study directory: one result directory per step, reused on a rerun. Default "lesion-study". */
  dir?: string;
  /** Sites to study. Default: every hidden site. */
  sites?: string[];
  /**
   * Pair sweeps: "cheap" (dense sites of ≤ 100 units whose zero ablations take a fast engine: the dense one, or the
   * delta path where the site feeds a linear layer; README: The engine), "all" hidden sites, or "none". Default "cheap".
   */
  pairs?: "cheap" | "all" | "none";
  /** The network before training, for the weight-change indicators. */
  initial?: LesionModel;
  /**
   * Recovery (runs only when given): `train` its training data; `site` the studied site whose most damaging population
   * (hierarchical grouping by impact) is retrained held at zero, default the first of `sites` (a ResNet's first is its
   * stem: name a later block); `epochs` (default 3) and `lr` as `recover`'s. Throws `unknown-site` for a site the
   * model lacks, `bad-option` for one not studied.
   */
  recover?: { train: Dataset; site?: string; epochs?: number; lr?: number };
  /** Fractions of a site for the cumulative curves. Default 0.1, 0.2, …, 1. */
  fractions?: number[];
  /** Random orders for the cumulative curves. Default 3. */
  repeats?: number;
  /** Seed of the random fraction orders, the populations' k-means, t-SNE and UMAP, the stimulus map and the recovery's training. Default 0. */
  seed?: number;
  /** Largest number of populations the characterize step tries per grouping (`characterize`'s `maxK`). Default 8. */
  maxK?: number;
  /** The source of the model, for the report. */
  modelPath?: string;
  /** The source of the initial model, recorded in study.json as `initial` (default: the initial model's name). */
  initialPath?: string;
  /** Samples per onnxruntime run of the evaluation, recording and ablation steps, as `ablate`'s. */
  batchSize?: number;
  /** Progress events of the steps' verbs (their phases). */
  onProgress?: (event: Progress) => void;
  /** Each step's start and end (or reuse), with its position among all steps, for a display of the whole study. */
  onStep?: (event: StudyStep) => void;
  /** Aborts the study with LesionError `aborted`; finished steps and resume logs stay for a rerun. */
  signal?: AbortSignal;
}

/** What `study` did: where its steps' results are, which ran now, and the intact baseline. */
export interface StudyResult {
  /** The study directory. */
  dir: string;
  /** The model's name. */
  model: string;
  /** The data's normalised spec. */
  data: string;
  /** The studied sites, each once, in the order given (default: hidden sites in graph order). */
  sites: string[];
  /** The sites whose every pair of units was ablated (StudyOptions.pairs). */
  pairSites: string[];
  /** Step name → whether it ran now (false: reused from an earlier run of the same model, data, sites and options). */
  steps: Record<string, boolean>;
  /**
   * The intact network on the data, as `AblateResult.baseline`: accuracy and per-class accuracy (fractions 0..1, null
   * for a class without samples) and the mean cross-entropy.
   */
  baseline: { accuracy: number; perClass: Array<number | null>; loss: number };
  /** The steps' warnings (studyWarnings): near ties left unsettled, the model's own warnings. */
  warnings: string[];
}

export { STUDY_FILE };

/**
 * The whole study of a model (Meyes et al. 2019 and 2020) in `dir`, one result directory per step (evaluate, record,
 * singles, pairs, characterize, fraction curves, optional recovery): a step whose identity (model hash, data identity,
 * options) matches a finished one is reused, a killed step resumes from its resume log.
 * @throws LesionError `unknown-site`; `bad-option` (a recovery site not studied, a learning rate ≤ 0, `repeats` or
 * `seed` out of range); `bad-fraction` (a fraction outside (0, 1], or none); `bad-model`
 * (NaN or infinite weights; an initial model that does not match); `dir-locked` (another run holds `dir`);
 * `resume-mismatch` (`dir` holds another command's results, or other files and no study: checkStudyDir); `unwritable-path`;
 * and those of the steps' verbs (`shape-mismatch`, `bad-data`, `label-out-of-range`, `unit-out-of-range`,
 * `unsupported-op`, `bad-model`, `engine-disagreement`, `aborted`).
 */
export async function study(model: LesionModel, data: Dataset, options: StudyOptions = {}): Promise<StudyResult> {
  const dir = options.dir ?? "lesion-study";
  // Each site once, by its own name (an alias or a repeat had reached the fraction step and failed there, 4 steps in).
  const sites = [...new Set((options.sites ?? hiddenSites(model).map((s) => s.name)).map((s) => resolveSite(model, s).name))];
  // As characterize says it (a trial's LSTM, whose only site is its output layer, got "--sites is empty").
  if (sites.length === 0) fail("unknown-site", `${model.name} has no hidden sites to study`, { model: model.name, site: null, closest: [] });
  // Before anything is written or removed: data the model cannot take fails here, not after study.json (and the
  // removal of another model's steps) went ahead.
  checkData(model, data);
  if (options.recover) checkData(model, options.recover.train);
  // The recovery (the last step) retrains a studied site's population: a network or site it cannot retrain fails here.
  const recoverSite = options.recover?.site === undefined ? sites[0] : resolveSite(model, options.recover.site).name;
  if (options.recover) {
    if (!sites.includes(recoverSite)) fail("bad-option", `the recovery's site ${recoverSite} is not among the studied sites (${sites.join(", ")}): its populations come from the characterize step`, { options: ["recover"], value: recoverSite });
    recoverableSite(model, recoverSite);
    checkLearningRate(options.recover.lr);
  }
  // The fractions step's options (fractions, repeats, seed) found wrong now, not after every step before it.
  fractions(resolveSite(model, sites[0]), { fractions: options.fractions ?? DEFAULT_FRACTIONS, order: "random", repeats: options.repeats ?? 3, seed: options.seed ?? 0 });
  // Characterize clusters units and compares them with the initial model: both found unusable now, not after three steps.
  requireFiniteWeights(model, "a study (its populations)");
  if (options.initial) checkInitial(model, options.initial, sites);
  checkStudyDir(dir);
  ensureDir(dir);
  const lock = acquireLock(dir);
  try {
    return await studyLocked(model, data, options, dir, sites, recoverSite);
  } finally {
    lock.release();
  }
}

/**
 * Refuses `dir` as a study directory before anything is written (`lesion study` checks it before training its default
 * network too): a directory never mixes runs, so one command's results (its run.json) are not a study's, and a
 * directory that is not empty must already hold a study (study.json), not a user's files or other runs' directories.
 * @throws LesionError `resume-mismatch` naming the directory.
 */
export function checkStudyDir(dir: string): void {
  const other = readRun(dir);
  if (other) fail("resume-mismatch", `${dir} holds the results of \`lesion ${other.run.command}\`, not a study; choose another output directory`, { path: dir });
  refuseForeignDir(dir, [STUDY_FILE], "study");
}

async function studyLocked(model: LesionModel, data: Dataset, options: StudyOptions, dir: string, sites: string[], recoverSite: string): Promise<StudyResult> {
  const steps: Record<string, boolean> = {};
  const common = { batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal };
  const dataId = dataIdentity(data);
  const seed = options.seed ?? 0;
  const initial = options.initial?.sha256 ?? null;
  const pairSites: string[] = [];
  for (const name of sites) {
    if (options.pairs === "none") continue;
    const site = resolveSite(model, name);
    // A CNN's channels are not cheap on the delta path (a convolution per condition); a dense site's are. A site of
    // one unit has no pair.
    if (site.units >= 2 && (options.pairs === "all" || (site.units <= 100 && site.kind === "dense" && (await planSweep(model, site, [])).engine !== "masked"))) pairSites.push(name);
  }
  const plan = ["eval", "record", "singles", ...pairSites.map((s) => pairsStep(s, sites)), "characterize", "fractions", ...(options.recover ? ["recover"] : [])];
  const report = join(dir, REPORT_FILE);
  /** Runs a step unless its directory holds a complete run of exactly this identity; replaces what it held. */
  const step = async (name: string, stepOptions: Record<string, unknown>, run: (out: ResultDir) => Promise<void>) => {
    const path = join(dir, name);
    const identity: RunIdentity = { command: `study:${name}`, model: model.sha256, data: dataId, options: stepOptions };
    const done = holdsRun(path, identity);
    const position = { name, index: plan.indexOf(name) + 1, total: plan.length };
    if (done) options.onStep?.({ ...position, state: "reused" });
    else {
      const started = performance.now();
      options.onStep?.({ ...position, state: "start" });
      // The report described the step's earlier results: a study stopped while recomputing it (another
      // --recover-site) had left a report of a recovery no longer on disk. The command line builds it anew at the end.
      guardWrite(report, () => rmSync(report, { force: true }), "cannot remove");
      const out = openResultDir(path, identity, { overwrite: true });
      try {
        await run(out);
      } finally {
        out.release();
      }
      options.onStep?.({ ...position, state: "done", seconds: (performance.now() - started) / 1000 });
    }
    steps[name] = !done;
  };
  // First, so that even a study stopped half-way never shows the earlier network's steps beside this one's.
  removeForeignSteps(dir, model.sha256, dataId.sha256);
  // `steps`: this study's step directories. Others of the same network (pairs of a site no longer asked for, a
  // recovery without --recover) stay for a later study to reuse, but the report and the warnings leave them out.
  const studyText = toJson({ lesion: LESION_VERSION, model: model.name, modelPath: options.modelPath ?? null, modelSha256: model.sha256, data: data.spec, n: data.n, sites, initial: options.initial ? (options.initialPath ?? options.initial.name) : null, steps: plan });
  // The report of another study (another network, data, sites or plan) goes with it: a trial's study killed after
  // switching the directory to another network left the earlier network's report.html beside the new steps.
  if (existsSync(report) && readText(join(dir, STUDY_FILE)) !== studyText) guardWrite(report, () => rmSync(report, { force: true }), "cannot remove");
  writeFileAtomic(join(dir, STUDY_FILE), studyText);

  await step("eval", {}, async (out) => {
    const result = await evaluate(model, data, common);
    out.write([], { lesion: LESION_VERSION, command: "eval", ...result, provenance: provenance(model, data) });
  });
  await step("record", { sites }, async (out) => {
    const result = await record(model, data, { ...common, sites });
    const { files, summary } = recordFiles(result, model.sha256, { sites }, provenance(model, data));
    out.write(files, summary);
  });
  // The singles step's result, when it runs now, is also the characterize step's single-unit ablations (one sweep
  // fewer: on a CNN the largest step). Only per-condition summaries are kept, never activations.
  let singlesResult: AblateResult | undefined;
  await step("singles", { sites }, async (out) => {
    const conditions = sites.flatMap((s) => singles(resolveSite(model, s)));
    const result = await ablate(model, data, { ...common, conditions, loss: true, resumeLog: join(out.dir, RESUME_LOG_FILE), keepResumeLog: true });
    singlesResult = result;
    const { files, summary } = ablateFiles(result, { site: sites.join(","), loss: true, confusion: false, provenance: provenance(model, data) }, deltaIntervals(result, data.labels));
    out.write(files, summary);
  });
  for (const s of pairSites) {
    await step(pairsStep(s, sites), { site: s }, async (out) => {
      const result = await ablate(model, data, { ...common, conditions: pairs(resolveSite(model, s)), loss: false, resumeLog: join(out.dir, RESUME_LOG_FILE), keepResumeLog: true });
      const { files, summary } = ablateFiles(result, { site: s, loss: false, confusion: false, provenance: provenance(model, data) }, deltaIntervals(result, data.labels));
      out.write(files, summary);
    });
  }
  // maxK joins the identity only when given, so that studies written before it are reused.
  await step("characterize", { sites, initial, seed, ...(options.maxK === undefined ? {} : { maxK: options.maxK }) }, async (out) => {
    const result = await characterize(model, data, { ...common, sites, initial: options.initial, seed: options.seed, maxK: options.maxK, singles: singlesResult });
    const { files, summary } = characterizeFiles(result, { modelSha256: model.sha256, initial: options.initial?.name ?? null, provenance: provenance(model, data, seed) });
    out.write(files, summary);
  });
  const fractionSteps = options.fractions ?? DEFAULT_FRACTIONS;
  // Reads the record and singles steps, whose identities are fixed by the same model, data and sites.
  await step("fractions", { sites, fractions: fractionSteps, repeats: options.repeats ?? 3, seed }, async (out) => {
    const recording = readSummary<{ n: number; sites: Array<{ site: string; units: number; classMeans: { data: number[] }; emptyClasses: number[]; fractionActive: number[] }> }>(join(dir, "record"));
    const singlesSummary = readSummary<{ conditions: Array<{ site: string; delta: number }> }>(join(dir, "singles"));
    const conditions: Condition[] = [];
    for (const name of sites) {
      const site = resolveSite(model, name);
      const rec = recording.sites.find((r) => r.site === name)!;
      conditions.push(...fractions(site, { fractions: fractionSteps, order: "random", repeats: options.repeats ?? 3, seed }));
      conditions.push(...fractions(site, { fractions: fractionSteps, order: "selectivity", ranking: selectivity(rec.classMeans.data, rec.units, rec.emptyClasses, { fractionActive: rec.fractionActive, n: recording.n }) }));
      conditions.push(...fractions(site, { fractions: fractionSteps, order: "impact", ranking: singlesSummary.conditions.filter((c) => c.site === name).map((c) => 0 - c.delta) }));
    }
    const result = await ablate(model, data, { ...common, conditions, loss: false, resumeLog: join(out.dir, RESUME_LOG_FILE), keepResumeLog: true });
    // With intervals like every other ablation step (the README lists deltaCi for every ablation summary).
    const { files, summary } = ablateFiles(result, { site: sites.join(","), loss: false, confusion: false, provenance: provenance(model, data, seed) }, deltaIntervals(result, data.labels));
    out.write(files, summary);
  });
  if (options.recover) {
    const recovery = options.recover;
    // Trains on recovery.train; the population comes from the characterize step (sites, initial, seed).
    // The learning rate, and a site other than the first, join the step's identity only there, so that recoveries of
    // earlier runs stay reused.
    await step("recover", { sites, initial, seed, train: dataIdentity(recovery.train), epochs: recovery.epochs ?? 3, ...(recovery.lr === undefined ? {} : { lr: recovery.lr }), ...(recoverSite === sites[0] ? {} : { site: recoverSite }) }, async (out) => {
      // The most damaging population of the site (hierarchical, by impact profile).
      const characterized = readSummary<{ populations: Array<{ site: string; groupings: Array<{ by: string; method: string; populations: Array<{ units: number[]; ablation: { delta: number } }> }> }> }>(join(dir, "characterize"));
      const populations = characterized.populations.find((p) => p.site === recoverSite)!;
      const grouping = populations.groupings.find((g) => g.by === "impact" && g.method === "hierarchical")!;
      const worst = [...grouping.populations].sort((a, b) => a.ablation.delta - b.ablation.delta)[0];
      const result = await recoverInStudy(dir, () => recover(model, recovery.train, { site: recoverSite, units: worst.units, test: data, epochs: recovery.epochs ?? 3, lr: recovery.lr, seed, control: true, epochState: join(out.dir, RESUME_STATE_FILE), keepEpochState: true, signal: options.signal, onProgress: options.onProgress }));
      // Said in the study's terms: it has no `test`, it measures the recovery on the studied data.
      const warnings = result.warnings.map((w) => w.replace("give `test` another set", "give the recovery other training data than the studied data").replace("give a smaller `lr`", "give a smaller `recoverLr`"));
      const { files, summary } = recoverFiles({ ...result, warnings }, provenance(model, recovery.train, seed, { test: data }));
      out.write(files, summary);
    });
  }
  const { accuracy, perClass, loss } = readSummary<StudyResult["baseline"]>(join(dir, "eval"));
  const baseline = { accuracy, perClass, loss };
  return { dir, model: model.name, data: data.spec, sites, pairSites, steps, baseline, warnings: studyWarnings(dir) };
}

/**
 * The warnings in the summaries of study directory `dir`'s steps (run now or reused), each once, followed by the steps
 * that gave it ("… (fractions, singles)").
 */
export function studyWarnings(dir: string): string[] {
  const steps = new Map<string, string[]>();
  const planned = studySteps(dir);
  const names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, SUMMARY_FILE)) && (planned === null || planned.includes(e.name))).map((e) => e.name).sort();
  for (const name of names) {
    let summary: { warnings?: unknown; unresolvedTies?: unknown };
    try {
      summary = readSummary(join(dir, name));
    } catch {
      continue;
    }
    const warnings = Array.isArray(summary.warnings) ? summary.warnings.filter((w): w is string => typeof w === "string") : [];
    // A step written before ablate named its unresolved ties among its warnings (unresolvedTiesWarning's words).
    const ties = typeof summary.unresolvedTies === "number" ? summary.unresolvedTies : 0;
    if (ties > 0 && !warnings.some((w) => readTiesWarning(w) !== null)) warnings.push(unresolvedTiesWarning(ties, null));
    for (const w of warnings) steps.set(w, [...(steps.get(w) ?? []), name]);
  }
  // Unsettled near ties differ by their count only: one line for all steps, counts summed (a trial's report had shown
  // four lines for one cause).
  const ties = new Map<string, { count: number; of: string[] }>();
  const lines: string[] = [];
  for (const [w, of] of steps) {
    const tie = readTiesWarning(w);
    if (!tie) {
      lines.push(`${w} (${of.join(", ")})`);
      continue;
    }
    const entry = ties.get(tie.rest) ?? { count: 0, of: [] };
    entry.count += tie.count * of.length;
    entry.of.push(...of);
    ties.set(tie.rest, entry);
  }
  for (const [rest, { count, of }] of ties) lines.push(`${count} ${rest} (${[...new Set(of)].sort().join(", ")})`);
  return lines;
}

/**
 * Removes step directories that hold another model's or data set's results, so neither the report nor a reader
 * mixes two studies. Steps of this model and data (also those not run now: pairs of a site no longer asked for,
 * recovery without --recover) are kept: they are still this network's results.
 */
function removeForeignSteps(dir: string, model: string, data: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const held = readRun(join(dir, entry.name));
    if (!held || !held.run.command.startsWith("study:")) continue;
    if (held.run.model === model && held.run.data?.sha256 === data) continue;
    const path = join(dir, entry.name);
    guardWrite(path, () => rmSync(path, { recursive: true, force: true }), "cannot remove");
  }
}

/**
 * The step directories of the study in `dir`, as its study.json lists them; null for a study.json written before it
 * listed them (every step directory counts) or none.
 */
export function studySteps(dir: string): string[] | null {
  try {
    const steps = (JSON.parse(readFileSync(join(dir, STUDY_FILE), "utf8")) as { steps?: unknown }).steps;
    return Array.isArray(steps) ? steps.filter((s): s is string => typeof s === "string") : null;
  } catch {
    return null;
  }
}

/**
 * The steps study.json lists whose directory holds no summary.json (a study stopped before it finished them): the
 * report leaves them out. Empty for a directory without a study or whose study.json lists no steps.
 */
export function unfinishedSteps(dir: string): string[] {
  return (studySteps(dir) ?? []).filter((step) => !existsSync(join(dir, step, SUMMARY_FILE)));
}

export function readSummary<T>(dir: string): T {
  return JSON.parse(readFileSync(join(dir, SUMMARY_FILE), "utf8")) as T;
}

/**
 * A study's recovery, its divergence said in the study's terms: its learning rate is `recoverLr` (the CLI's
 * --recover-lr; the recover verb's `lr`), and the steps before it are kept for `lesion report`.
 */
async function recoverInStudy<T>(dir: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isLesionError(error) && error.code === "bad-option" && error.details.options?.includes("lr")) {
      fail("bad-option", `the recovery step: ${error.message.split("`lr`").join("`recoverLr`")}; the steps before it are kept (\`lesion report ${dir}\` reports them)`, { ...error.details, options: ["recoverLr"] });
    }
    throw error;
  }
}

/** A file's text, or null where it cannot be read. */
function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
