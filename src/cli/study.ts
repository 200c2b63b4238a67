import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SUMMARY_FILE } from "../runs/resultDir.js";
import { fail, isLesionError } from "../errors.js";
import { checkData } from "../engine/forward.js";
import { closeModel, openModel, type LesionModel } from "../engine/model.js";
import { buildReport } from "../report/buildReport.js";
import { DEFAULT_ARCH, defaultModel } from "../models/defaultModel.js";
import { checkStudyDir, study, unfinishedSteps, type StudyOptions } from "../runs/study.js";
import { abortOnInterrupt, checkOutsideData, namedSet, parseInteger, parseList, parseNumber, parseNumberList, percent, trainingSpecs, loadModelData, numberedAs, type FlagTable } from "./common.js";
import { studyProgress } from "./studyProgress.js";
import { warningLine } from "./flagMessage.js";
import type { RecoverSummary } from "../runs/recoverFiles.js";
import { USUAL_LEARNING_RATE } from "../models/recover.js";

const FLAGS: FlagTable<StudyOptions> = {
  dir: "-o, --output <dir>",
  sites: "--sites <names>",
  pairs: "--pairs <which>",
  initial: "--initial <model>",
  recover: "--recover",
  fractions: "--fractions <list>",
  repeats: "--repeats <n>",
  seed: "--seed <n>",
  maxK: "--max-k <n>",
  modelPath: null /* the MODEL argument */,
  initialPath: null /* the --initial argument */,
  batchSize: null /* 1024 */,
  onProgress: null /* the study's progress display */,
  onStep: null /* the study's progress display */,
  signal: null /* Ctrl-C */,
};

interface StudyFlags {
  data?: string;
  initial?: string;
  sites?: string;
  pairs: string;
  recover?: boolean;
  recoverData?: string;
  recoverLr?: string;
  recoverSite?: string;
  maxK?: string;
  fractions?: string;
  repeats?: string;
  seed?: string;
  output: string;
}

export function registerStudy(program: Command): void {
  program
    .command("study")
    .description("the whole study in one command, with an HTML report (no MODEL: lesion's default MNIST network)")
    .argument("[model]", "ONNX model file (default: an MLP lesion trains on MNIST once and caches)")
    .option("--data <spec>", "data to study on (default mnist:test)")
    .option(FLAGS.initial!, "the network before training, for the weight-change indicators")
    .option(FLAGS.sites!, "comma-separated sites (default: every hidden site)")
    .option(FLAGS.pairs!, "pair sweeps: cheap (dense sites of ≤ 100 units on a fast engine), all, none", "cheap")
    .option(FLAGS.recover!, "retrain after ablating the most damaging population (needs training data)")
    .option("--recover-data <spec>", "training data for --recover (default: the named set's train split)")
    .option("--recover-site <name>", "the studied site whose most damaging population --recover retrains (default: the first studied site)")
    .option("--recover-lr <rate>", "learning rate of --recover's SGD (default 0.01; 0.001 for a residual network without BatchNorm, as an exported ResNet)")
    .option(FLAGS.maxK!, "largest number of populations characterize tries per grouping (default 8)")
    .option(FLAGS.fractions!, "fractions of each site's units for the cumulative curves and Study B (default 0.1,0.2,…,1)")
    .option(FLAGS.repeats!, "random orders drawn per site for those curves (default 3; more smooth Study B's per-class curves)")
    .option(FLAGS.seed!, "seed of the random orders, the populations' clustering and embeddings and the recovery's training (default 0)")
    .option(FLAGS.dir!, "study directory (a rerun continues there)", "lesion-study")
    .action(async (path: string | undefined, flags: StudyFlags) => {
      if (flags.recoverData !== undefined && !flags.recover) fail("bad-option", "--recover-data is the training data of --recover, which is not given", { options: ["recoverData", "recover"] });
      if (flags.recoverSite !== undefined && !flags.recover) fail("bad-option", "--recover-site is the site of --recover, which is not given", { options: ["recoverSite", "recover"] });
      if (flags.recoverLr !== undefined && !flags.recover) fail("bad-option", "--recover-lr is the learning rate of --recover, which is not given", { options: ["recoverLr", "recover"] });
      if (!["cheap", "all", "none"].includes(flags.pairs)) fail("bad-option", `--pairs must be cheap, all or none, got '${flags.pairs}'`, { options: ["pairs"], value: flags.pairs });
      // Before the default network is trained (a minute): a directory of other files or another command's results.
      checkStudyDir(flags.output);
      const progress = studyProgress();
      const interrupt = abortOnInterrupt();
      const opened: LesionModel[] = [];
      try {
        let modelPath = path;
        let initialPath = flags.initial;
        // The default network knows MNIST's digits: on another named set (Fashion-MNIST has MNIST's shape) a whole study
        // ran on a network below chance (a trial's 5.50 %) without a word.
        const studiedSet = flags.data === undefined ? "mnist" : namedSet(flags.data);
        if (!modelPath && studiedSet !== null && studiedSet !== "mnist") fail("bad-option", `the default network is trained on MNIST, not ${studiedSet}: study a network trained on it (lesion train --arch ${DEFAULT_ARCH} --data ${studiedSet} -o ${studiedSet}.onnx, then lesion study ${studiedSet}.onnx --data ${flags.data})`, { options: ["data"], value: flags.data });
        if (!modelPath) {
          const defaults = await defaultModel({ onProgress: progress.onProgress, signal: interrupt.signal });
          progress.stop();
          if (defaults.trained) console.error(`lesion: trained the default network (${defaults.model})`);
          modelPath = defaults.model;
          initialPath ??= defaults.initial;
        }
        const dataSpec = flags.data ?? "mnist:test";
        const model = await openModel(modelPath);
        opened.push(model);
        const data = await loadModelData(dataSpec, model);
        // The default data fits the default network: another model gets told where the mnist:test came from.
        if (flags.data === undefined) {
          try {
            checkData(model, data);
          } catch (error) {
            // CIFAR-10 named only where it fits: a trial's 400-input MLP was pointed at it.
            const cifar = model.inputShape.reduce((a, b) => a * b, 1) === 3 * 32 * 32 ? " (e.g. --data cifar10:test)" : "";
            if (isLesionError(error) && error.code === "shape-mismatch") fail("shape-mismatch", `${error.message}; --data defaults to mnist:test: give the data ${model.name} takes${cifar}`, error.details);
            throw error;
          }
        }
        checkOutsideData(flags.output, data);
        const initial = initialPath ? await openModel(initialPath) : undefined;
        if (initial) opened.push(initial);
        let recover: StudyOptions["recover"];
        if (flags.recover) {
          // The named set of the studied data (mnist:test → mnist), whose train split the recovery trains on.
          const named = namedSet(dataSpec);
          const trainSpec = flags.recoverData ?? (named ? trainingSpecs(named, undefined).train : undefined);
          if (!trainSpec) fail("bad-option", "--recover needs --recover-data when --data is not a named data set", { options: ["recoverData"] });
          const lr = flags.recoverLr === undefined ? undefined : parseNumber(flags.recoverLr, "--recover-lr");
          if (lr !== undefined && !(lr > 0)) fail("bad-option", `--recover-lr must be a positive number, got ${flags.recoverLr}`, { options: ["recoverLr"], value: lr });
          // The train split a named set implies may not be on disk (only CIFAR-10's test subset is bundled): say which flag helps.
          const loaded = await loadModelData(trainSpec, model).catch((error: unknown) => {
            if (flags.recoverData === undefined && isLesionError(error) && error.code === "missing-file") fail("missing-file", `${error.message}; or give --recover-data (e.g. --recover-data ${dataSpec} retrains on the studied images, with a warning)`, error.details);
            throw error;
          });
          // For a model without class names, a folder of some of the classes is numbered as the studied folder is.
          const train = numberedAs(loaded, data, model);
          recover = { train, ...(lr === undefined ? {} : { lr }), ...(flags.recoverSite === undefined ? {} : { site: flags.recoverSite }) };
        }
        const result = await study(model, data, {
          dir: flags.output,
          sites: flags.sites !== undefined ? parseList(flags.sites, "--sites") : undefined,
          pairs: flags.pairs as StudyOptions["pairs"],
          maxK: flags.maxK === undefined ? undefined : parseInteger(flags.maxK, "--max-k", 2),
          fractions: flags.fractions === undefined ? undefined : parseNumberList(flags.fractions, "--fractions"),
          repeats: flags.repeats === undefined ? undefined : parseInteger(flags.repeats, "--repeats", 1),
          seed: flags.seed === undefined ? undefined : parseInteger(flags.seed, "--seed", 0),
          initial,
          recover,
          // As given, made absolute: the report and a reader of study.json find both models from anywhere.
          modelPath: resolve(modelPath),
          initialPath: initialPath ? resolve(initialPath) : undefined,
          onProgress: progress.onProgress,
          onStep: progress.onStep,
          signal: interrupt.signal,
        });
        progress.stop();
        const report = buildReport(flags.output);
        const reused = Object.entries(result.steps).filter(([, ran]) => !ran).map(([name]) => name);
        // Library option names in the steps' warnings as this command's flags (`recoverLr` → --recover-lr).
        for (const w of result.warnings) console.error(warningLine(w));
        console.log(`studied ${result.model} on ${result.data}: baseline ${percent(result.baseline.accuracy)}, sites ${result.sites.join(", ")}${reused.length ? ` (reused: ${reused.join(", ")})` : ""}`);
        // Said, not left to a missing step: a user expects pairs by default (--pairs cheap found none).
        console.log(`pairs: ${result.pairSites.length > 0 ? result.pairSites.join(", ") : `none (${flags.pairs === "none" ? "--pairs none" : "no dense site of ≤ 100 units on a fast engine; --pairs all sweeps every hidden site"})`}`);
        if (recover) console.log(recoveryLine(flags.output, flags.recoverLr === undefined));
        console.log(`report: ${report}`);
      } finally {
        interrupt.dispose();
        progress.stop();
        for (const m of opened) await closeModel(m);
      }
    });

  program
    .command("report")
    .description("rebuild DIR/report.html from the result files of a study or transplant directory")
    .argument("<dir>", "study directory, or a lesion transplant result directory")
    .action((dir: string) => {
      console.log(`report: ${buildReport(dir)}`);
      // A study stopped part way reports what finished: say what it leaves out (the page alone looked complete).
      const unfinished = unfinishedSteps(dir);
      if (unfinished.length > 0) console.error(`lesion: warning: the study's step${unfinished.length === 1 ? "" : "s"} ${unfinished.join(", ")} did not finish and ${unfinished.length === 1 ? "is" : "are"} left out of the report; run the same lesion study again to finish ${unfinished.length === 1 ? "it" : "them"}`);
    });
}

/**
 * The recovery step in one line: what was held, the accuracies it went through, the control, and the step it took,
 * with why where the default is not the usual (a trial's exported ResNet, its BatchNorm folded, retrained at 0.001
 * without a word).
 */
function recoveryLine(dir: string, defaultLr: boolean): string {
  const r = JSON.parse(readFileSync(join(dir, "recover", SUMMARY_FILE), "utf8")) as RecoverSummary;
  const last = r.epochs[r.epochs.length - 1];
  const control = r.control ? `; control (intact retrained) ${percent(r.control[r.control.length - 1].accuracy)}` : "";
  const why = defaultLr && r.settings.lr !== USUAL_LEARNING_RATE[r.settings.optimizer] ? ", the default for a residual network without BatchNorm; --recover-lr to choose" : "";
  return `recovery: ${r.site} units ${r.units.join(",")} held, intact ${percent(r.intact.accuracy)}, ablated ${percent(r.ablated.accuracy)}, after ${last.epoch} epochs ${percent(last.accuracy)}${control} (lr ${r.settings.lr}${why})`;
}
