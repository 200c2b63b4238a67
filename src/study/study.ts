/**
 * The whole study in one call (Meyes et al. 2019, 2020): evaluation, recording, every single unit of every site
 * ablated, pairs where cheap (or asked for), indicators, populations and their group ablations, cumulative ablation
 * curves (Morcos et al. 2018) and, on request, recovery training of the most damaging population. Each step writes its
 * own result directory under `dir` (summary.json last); a step whose summary exists is reused, so a rerun after a
 * kill continues where it stopped (and sweeps resume inside a step from their checkpoints).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { resolveSite, type LesionModel } from "../engine/model.js";
import { writeFileAtomic } from "../files.js";
import { denseChain } from "../onnx/chain.js";
import { ablate } from "./ablate.js";
import { ablateFiles } from "./ablateFiles.js";
import { characterize } from "./characterize.js";
import { characterizeFiles } from "./characterizeFiles.js";
import { deltaIntervals } from "./deltaIntervals.js";
import { fractions, pairs, singles, type Condition } from "./conditions.js";
import { evaluate } from "./evaluate.js";
import type { Progress, StudyStep } from "./progress.js";
import { record } from "./record.js";
import { recordFiles } from "./recordFiles.js";
import { recover } from "./recover.js";
import { recoverFiles } from "./recoverFiles.js";
import { LESION_VERSION, SUMMARY_FILE, toJson, writeResultDir } from "./resultDir.js";
import { selectivity } from "./unitScores.js";

export interface StudyOptions {
  /** The study directory: one result directory per step, reused on a rerun. Default "lesion-study". */
  dir?: string;
  /** Sites to study. Default: every hidden site. */
  sites?: string[];
  /** Pair sweeps: "cheap" (sites of ≤ 100 units the dense engine handles), "all" hidden sites, or "none". Default "cheap". */
  pairs?: "cheap" | "all" | "none";
  /** The network before training, for the weight-change indicators. */
  initial?: LesionModel;
  /** Training data for recovery; recovery runs only when given. */
  recover?: { train: Dataset; epochs?: number };
  /** Fractions of a site for the cumulative curves. Default 0.1, 0.2, …, 1. */
  fractions?: number[];
  /** Random orders for the cumulative curves. Default 3. */
  repeats?: number;
  seed?: number;
  /** The source of the model, for the report. */
  modelPath?: string;
  batchSize?: number;
  onProgress?: (event: Progress) => void;
  /** Each step's start and end (or reuse), with its position among all steps, for a display of the whole study. */
  onStep?: (event: StudyStep) => void;
  signal?: AbortSignal;
}

export interface StudyResult {
  dir: string;
  model: string;
  data: string;
  sites: string[];
  /** Step name → whether it ran now (false: reused from an earlier run). */
  steps: Record<string, boolean>;
  baseline: number;
}

export const STUDY_FILE = "study.json";

export async function study(model: LesionModel, data: Dataset, options: StudyOptions = {}): Promise<StudyResult> {
  const dir = options.dir ?? "lesion-study";
  const sites = options.sites ?? model.sites.filter((s) => s.tensor !== model.outputName).map((s) => s.name);
  sites.forEach((s) => resolveSite(model, s));
  const steps: Record<string, boolean> = {};
  const common = { batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal };
  const chain = denseChain(model.proto);
  const pairSites = sites.filter((s) => {
    if (options.pairs === "none") return false;
    if (options.pairs === "all") return true;
    const site = resolveSite(model, s);
    return site.units <= 100 && chain !== null && chain.layers.some((l) => l.name === s);
  });
  const plan = ["eval", "record", "singles", ...pairSites.map((s) => `pairs-${s}`), "characterize", "fractions", ...(options.recover ? ["recover"] : [])];
  const step = async (name: string, run: (path: string) => Promise<void>) => {
    const path = join(dir, name);
    const done = existsSync(join(path, SUMMARY_FILE));
    const position = { name, index: plan.indexOf(name) + 1, total: plan.length };
    if (done) options.onStep?.({ ...position, state: "reused" });
    else {
      const started = performance.now();
      options.onStep?.({ ...position, state: "start" });
      await run(path);
      options.onStep?.({ ...position, state: "done", seconds: (performance.now() - started) / 1000 });
    }
    steps[name] = !done;
  };
  writeFileAtomic(
    join(dir, STUDY_FILE),
    toJson({ lesion: LESION_VERSION, model: model.name, modelPath: options.modelPath ?? null, modelSha256: model.sha256, data: data.spec, n: data.n, sites, initial: options.initial?.name ?? null }),
  );

  await step("eval", async (path) => {
    const result = await evaluate(model, data, common);
    writeResultDir(path, [], { lesion: LESION_VERSION, command: "eval", ...result });
  });
  await step("record", async (path) => {
    const result = await record(model, data, { ...common, sites });
    const { files, summary } = recordFiles(result, model.sha256, { sites });
    writeResultDir(path, files, summary);
  });
  await step("singles", async (path) => {
    const conditions = sites.flatMap((s) => singles(resolveSite(model, s)));
    const result = await ablate(model, data, { ...common, conditions, loss: true, checkpoint: join(path, "checkpoint.jsonl") });
    const { files, summary } = ablateFiles(result, { site: sites.join(","), mode: "zero", loss: true, confusion: false }, deltaIntervals(result, data.labels));
    writeResultDir(path, files, summary);
  });
  for (const s of pairSites) {
    await step(`pairs-${s}`, async (path) => {
      const result = await ablate(model, data, { ...common, conditions: pairs(resolveSite(model, s)), loss: false, checkpoint: join(path, "checkpoint.jsonl") });
      const { files, summary } = ablateFiles(result, { site: s, mode: "zero", loss: false, confusion: false }, deltaIntervals(result, data.labels));
      writeResultDir(path, files, summary);
    });
  }
  await step("characterize", async (path) => {
    const result = await characterize(model, data, { ...common, sites, initial: options.initial, seed: options.seed });
    const { files, summary } = characterizeFiles(result, { modelSha256: model.sha256, initial: options.initial?.name ?? null });
    writeResultDir(path, files, summary);
  });
  await step("fractions", async (path) => {
    const recording = readSummary<{ n: number; sites: Array<{ site: string; units: number; classMeans: { data: number[] }; emptyClasses: number[]; fractionActive: number[] }> }>(join(dir, "record"));
    const singlesSummary = readSummary<{ conditions: Array<{ site: string; delta: number }> }>(join(dir, "singles"));
    const steps = options.fractions ?? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
    const conditions: Condition[] = [];
    for (const name of sites) {
      const site = resolveSite(model, name);
      const rec = recording.sites.find((r) => r.site === name)!;
      conditions.push(...fractions(site, { fractions: steps, order: "random", repeats: options.repeats ?? 3, seed: options.seed ?? 0 }));
      conditions.push(...fractions(site, { fractions: steps, order: "selectivity", ranking: selectivity(rec.classMeans.data, rec.units, rec.emptyClasses, { fractionActive: rec.fractionActive, n: recording.n }) }));
      conditions.push(...fractions(site, { fractions: steps, order: "impact", ranking: singlesSummary.conditions.filter((c) => c.site === name).map((c) => 0 - c.delta) }));
    }
    const result = await ablate(model, data, { ...common, conditions, loss: false, checkpoint: join(path, "checkpoint.jsonl") });
    const { files, summary } = ablateFiles(result, { site: sites.join(","), mode: "zero", loss: false, confusion: false });
    writeResultDir(path, files, summary);
  });
  if (options.recover) {
    const recovery = options.recover;
    await step("recover", async (path) => {
      // The most damaging population of the first site (hierarchical, by impact profile).
      const characterized = readSummary<{ populations: Array<{ site: string; groupings: Array<{ by: string; method: string; populations: Array<{ units: number[]; ablation: { delta: number } }> }> }> }>(join(dir, "characterize"));
      const grouping = characterized.populations[0].groupings.find((g) => g.by === "impact" && g.method === "hierarchical")!;
      const worst = [...grouping.populations].sort((a, b) => a.ablation.delta - b.ablation.delta)[0];
      const result = await recover(model, recovery.train, { site: characterized.populations[0].site, units: worst.units, test: data, epochs: recovery.epochs ?? 3, control: true, signal: options.signal, onProgress: options.onProgress });
      const { files, summary } = recoverFiles(result);
      writeResultDir(path, files, summary);
    });
  }
  const baseline = readSummary<{ accuracy: number }>(join(dir, "eval")).accuracy;
  return { dir, model: model.name, data: data.spec, sites, steps, baseline };
}

export function readSummary<T>(dir: string): T {
  return JSON.parse(readFileSync(join(dir, SUMMARY_FILE), "utf8")) as T;
}
