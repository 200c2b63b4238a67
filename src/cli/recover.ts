import type { Command } from "commander";
import { join } from "node:path";
import { dataIdentity } from "../data/dataIdentity.js";
import { fail } from "../errors.js";
import { closeModel, openModel } from "../engine/model.js";
import { checkRecover, recover, USUAL_LEARNING_RATE, type RecoverOptions } from "../models/recover.js";
import { provenance } from "../runs/provenance.js";
import { recoverFiles } from "../runs/recoverFiles.js";
import { RESUME_STATE_FILE } from "../runs/resultDir.js";
import { abortOnInterrupt, claimOutput, type FlagTable, loadTrainingData, OVERWRITE_FLAG, OVERWRITE_HELP, parseInteger, parseNumber, parseOptimizer, percent, printJson, progressReporter, reuseFinished, trainingSpecs } from "./common.js";
import { parseUnitList } from "./parseUnits.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<RecoverOptions> = {
  site: "--site <name>",
  units: "--units <list>",
  test: "--test <spec>",
  epochs: "--epochs <n>",
  free: "--free",
  control: "--control",
  optimizer: "--optimizer <name>",
  lr: "--lr <rate>",
  momentum: "--momentum <m>",
  batchSize: "--batch-size <n>",
  seed: "--seed <n>",
  threads: null /* every core */,
  epochState: null /* always <output>/resume-state.json */,
  keepEpochState: null /* always: the result directory removes the state once the summary is written */,
  onEpoch: null /* a line on stderr per epoch */,
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

interface RecoverFlags {
  data: string;
  site: string;
  units: string;
  test?: string;
  epochs: string;
  free?: boolean;
  control?: boolean;
  optimizer: string;
  lr?: string;
  momentum: string;
  batchSize: string;
  seed: string;
  output: string;
  overwrite?: boolean;
  json?: boolean;
}

export function registerRecover(program: Command): void {
  program
    .command("recover")
    .description("ablate units, retrain the damaged network and report how much of the lost accuracy comes back, per class")
    .argument("<model>", "ONNX model file (Linear/Conv, BatchNorm, pooling and activation layers, in a chain or residual blocks)")
    .requiredOption("--data <spec>", "training data (a named set without a split means its train split)")
    .requiredOption(FLAGS.site!, "site whose units are ablated")
    .requiredOption(FLAGS.units!, "units to ablate, e.g. 3,7,12 or 0-4")
    .option(FLAGS.test!, "test data (default: the named set's test split)")
    .option(FLAGS.epochs!, "epochs of retraining", "3")
    .option(FLAGS.free!, "let the ablated units learn again (default: held at zero)")
    .option(FLAGS.control!, "also retrain the intact network with the same budget (the control for recovery)")
    .option(FLAGS.optimizer!, "sgd (with momentum) or adam", "sgd")
    .option(FLAGS.lr!, "learning rate (default 0.01 for sgd, 0.001 for adam; a tenth of that for a residual network without BatchNorm)")
    .option(FLAGS.momentum!, "SGD momentum", "0.9")
    .option(FLAGS.batchSize!, "samples per step", "128")
    .option(FLAGS.seed!, "seed of the shuffling (and of --free units' fresh weights)", "0")
    .option("-o, --output <dir>", "result directory", "out/recover")
    .option(OVERWRITE_FLAG, OVERWRITE_HELP)
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: RecoverFlags) => {
      const optimizer = parseOptimizer(flags.optimizer);
      const specs = trainingSpecs(flags.data, flags.test);
      if (!specs.test) fail("bad-option", "--test is needed when --data is not a named data set", { options: ["test"] });
      const model = await openModel(path);
      const { data, test } = await loadTrainingData({ train: specs.train, test: specs.test }, model);
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      let output: ReturnType<typeof claimOutput> | undefined;
      try {
        const options = {
          site: flags.site,
          units: parseUnitList(flags.units),
          epochs: parseInteger(flags.epochs, "--epochs"),
          free: flags.free ?? false,
          control: flags.control ?? false,
          optimizer,
          lr: flags.lr === undefined ? undefined : parseNumber(flags.lr, "--lr"),
          momentum: parseNumber(flags.momentum, "--momentum"),
          batchSize: parseInteger(flags.batchSize, "--batch-size"),
          seed: parseInteger(flags.seed, "--seed", 0),
        };
        // Checked before the directory is claimed: with --overwrite, claiming removes its previous run.
        // The step the run takes, default or given, is its identity: `--lr 0.01` reruns (and resumes) the default run.
        const { lr } = checkRecover(model, data, { ...options, test });
        // The units in order (recovery holds them all at once; parseUnitList drops repeats): `--units 44,7,3` reruns `--units 3,7,44`.
        const units = [...options.units].sort((a, b) => a - b);
        output = claimOutput(flags.output, "recover", model, data, { ...options, units, lr, test: dataIdentity(test) }, flags.overwrite);
        if (reuseFinished(output, flags)) return;
        const result = await recover(model, data, {
          ...options,
          test,
          epochState: join(flags.output, RESUME_STATE_FILE),
          keepEpochState: true,
          onProgress: (event) => (event.phase === "resume" ? console.error(`lesion: resuming from ${event.detail}: ${event.done} of ${event.total} epochs done`) : progress.onProgress(event)),
          // As each epoch ends (a CNN's take minutes); the table with the recovered fractions follows at the end.
          onEpoch: (run, e) => {
            if (flags.json) return;
            progress.stop();
            console.error(`${run === "control" ? "control" : "recovery"} epoch ${e.epoch}/${options.epochs}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${percent(e.testAccuracy!)}, test loss ${e.testLoss!.toFixed(4)} (${e.seconds.toFixed(1)} s)`);
          },
          signal: interrupt.signal,
        });
        progress.stop();
        const { files, summary } = recoverFiles(result, provenance(model, data, options.seed, { test }));
        output.write(files, summary);
        for (const w of result.warnings) console.error(warningLine(w));
        // The default step of a residual network without BatchNorm (one whose export folded it) is a tenth of the
        // usual: said, since nothing on the command line chose it (a trial found it only in summary.json).
        if (flags.lr === undefined && result.settings.lr !== USUAL_LEARNING_RATE[optimizer]) {
          console.error(`lesion: --lr ${result.settings.lr} (the default for a residual network without BatchNorm, as an export that folded it; give --lr to choose)`);
        }
        if (flags.json) return printJson(summary);
        console.log(`${result.site} units ${result.units.join(",")} (${result.mode}): intact ${percent(result.intact.accuracy)}, ablated ${percent(result.ablated.accuracy)} on ${test.spec} (${test.n} images) → ${join(flags.output, "model.onnx")}`);
        for (const [i, e] of result.epochs.entries()) {
          const control = result.control ? `; control (intact retrained) ${percent(result.control[i].accuracy)}` : "";
          console.log(`  epoch ${e.epoch}: ${percent(e.accuracy)}, recovered ${e.recovered === null ? "n/a" : percent(e.recovered)} of the lost accuracy${control}`);
        }
      } finally {
        output?.release();
        interrupt.dispose();
        progress.stop();
        await closeModel(model);
      }
    });
}
