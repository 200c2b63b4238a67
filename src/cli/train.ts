import type { Command } from "commander";
import { parseArch } from "../models/arch.js";
import { loadDataset } from "../data/loadDataset.js";
import { sharedSamplesWarning } from "../data/sharedSamples.js";
import { dirname, resolve } from "node:path";
import { checkOutputFile, checkWritableDir, writeFileAtomic } from "../files.js";
import { train, type TrainOptions } from "../models/train.js";
import { trainedBefore, trainHistoryFile, trainIdentity, trainPaths } from "../runs/trainFiles.js";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { fail, isLesionError } from "../errors.js";
import { abortOnInterrupt, OVERWRITE_FLAG, parseClass, parseInteger, parseNumber, parseNumberList, percent, printJson, progressReporter, trainingSpecs, type FlagTable, parseOptimizer } from "./common.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<TrainOptions> = {
  arch: "--arch <name>",
  test: "--test <spec>",
  epochs: "--epochs <n>",
  batchSize: "--batch-size <n>",
  optimizer: "--optimizer <name>",
  lr: "--lr <rate>",
  momentum: "--momentum <m>",
  weightDecay: "--weight-decay <wd>",
  seed: "--seed <n>",
  mean: "--mean <values>",
  std: "--std <values>",
  epochState: null /* --epoch-state writes <output>.epoch-state.json */,
  keepEpochState: null /* always: removed once the model is written */,
  excludeClasses: "--exclude-classes <classes>",
  threads: null /* every core */,
  onProgress: null /* progress bar on a TTY */,
  onEpoch: null /* one line per epoch */,
  signal: null /* Ctrl-C */,
};

interface TrainFlags {
  arch: string;
  data: string;
  test?: string;
  epochs: string;
  batchSize: string;
  optimizer: string;
  lr?: string;
  momentum: string;
  weightDecay: string;
  seed: string;
  mean: string;
  std: string;
  epochState?: boolean;
  excludeClasses?: string;
  output: string;
  overwrite?: boolean;
  json?: boolean;
}

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("train a network with lesion's own engine; saves the trained and the initial weights")
    .requiredOption(FLAGS.arch!, "mlp:784-100-100-100-10 (layer widths), cnn:small, vgg:small (BatchNorm) or a layer list (README: Architectures)")
    .requiredOption("--data <spec>", "training data (a named set without a split means its train split)")
    .option(FLAGS.test!, "test data evaluated after every epoch (default: the named set's test split)")
    .option(FLAGS.epochs!, "epochs", "10")
    .option(FLAGS.batchSize!, "samples per step", "128")
    .option(FLAGS.optimizer!, "sgd (with momentum) or adam", "sgd")
    .option(FLAGS.lr!, "learning rate (default 0.02 for sgd, 0.001 for adam)")
    .option(FLAGS.momentum!, "SGD momentum", "0.9")
    .option(FLAGS.weightDecay!, "weight decay", "0")
    .option(FLAGS.seed!, "seed of initialisation and shuffling", "0")
    .option(FLAGS.mean!, "input mean stored in the model", "0.5")
    .option(FLAGS.std!, "input standard deviation stored in the model", "0.5")
    .option(FLAGS.excludeClasses!, "leave these classes (indices or class names, comma-separated) out of the training data: a transplant's recipient")
    .option("--epoch-state", "save the training state to <output>.epoch-state.json after every epoch; a rerun resumes from it")
    .requiredOption("-o, --output <file>", "ONNX file for the trained model (the initial one goes to <name>.initial.onnx)")
    .option(OVERWRITE_FLAG, "replace an existing model (and its .initial.onnx and .history.json) at the output path")
    .option("--json", "print the history as JSON")
    .action(async (flags: TrainFlags) => {
      const optimizer = parseOptimizer(flags.optimizer);
      // An architecture train cannot build is refused before the data (and its warnings) are loaded.
      parseArch(flags.arch);
      const output = flags.output;
      const paths = trainPaths(output);
      // A directory or device in the way is found now, not after the epochs (with --overwrite too).
      for (const path of [paths.model, paths.initial, paths.history]) checkOutputFile(path);
      const existing = [paths.model, paths.initial, paths.history].filter((path) => existsSync(path));
      const specs = trainingSpecs(flags.data, flags.test);
      const data = await loadDataset(specs.train);
      // A test folder is read as the training data: its channels (train() matches its classes by name).
      const test = specs.test ? await loadDataset(specs.test, { channels: data.shape[0] === 1 || data.shape[0] === 3 ? data.shape[0] : null }) : undefined;
      const settings = {
        arch: flags.arch,
        test,
        epochs: parseInteger(flags.epochs, "--epochs"),
        batchSize: parseInteger(flags.batchSize, "--batch-size"),
        optimizer,
        lr: flags.lr === undefined ? undefined : parseNumber(flags.lr, "--lr"),
        momentum: parseNumber(flags.momentum, "--momentum"),
        weightDecay: parseNumber(flags.weightDecay, "--weight-decay"),
        seed: parseInteger(flags.seed, "--seed", 0),
        mean: parseNumberList(flags.mean, "--mean"),
        std: parseNumberList(flags.std, "--std"),
        excludeClasses: flags.excludeClasses === undefined ? undefined : flags.excludeClasses.split(",").map((item) => parseClass(item, data.classNames, "--exclude-classes", "the training data")),
      };
      const identity = trainIdentity(data, settings);
      // A trained model is hours of work: another run's is replaced only when asked, and found before training starts.
      // The same command again (same architecture, data and options) finds its run finished, as recover's rerun does.
      if (existing.length > 0 && !flags.overwrite) {
        const before = trainedBefore(paths, identity);
        if (before.finished) {
          if (flags.json) return void process.stdout.write(readFileSync(paths.history, "utf8").trimEnd() + "\n");
          return console.log(`${output} already holds this run's model (same architecture, data and options): nothing trained; its files are ${paths.model}, ${paths.initial} and ${paths.history}; --overwrite trains it again`);
        }
        const them = existing.length === 1 ? "it" : "them";
        fail("resume-mismatch", `${existing.join(", ")} ${existing.length === 1 ? "exists" : "exist"}${before.reason ? ` (${before.reason})` : ""}; use --overwrite to replace ${them}, or choose another -o path`, { path: existing[0], options: ["overwrite"] });
      }
      // `--data cifar10:test` with the default test set trains and tests on the same images: say so, once …
      // … and `--data mnist:test[:1000]` tests on the whole split, which holds those images.
      const shared = test && sharedSamplesWarning(data, test, { same: "its test accuracy is a training accuracy", partly: "its test accuracy is partly a training accuracy", option: "--test" });
      if (shared) console.error(`lesion: warning: ${shared}`);
      const stem = output.replace(/\.onnx$/i, "");
      // Training takes minutes: an output that cannot be written is found before it starts.
      checkWritableDir(dirname(resolve(output)), "output directory");
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      try {
        const options: TrainOptions = {
          ...settings,
          epochState: flags.epochState ? `${stem}.epoch-state.json` : undefined,
          // Removed once the model is written: a kill between the two would otherwise lose every epoch.
          keepEpochState: true,
          // Said once train has accepted the state (a state of another run is refused in one line, without it).
          onProgress: (event) => (event.phase === "resume" ? console.error(`lesion: resuming from ${event.detail}: ${event.done} of ${event.total} epochs done`) : progress.onProgress(event)),
          onEpoch: (e) => {
            if (flags.json) return;
            progress.stop();
            console.error(`epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}${e.testAccuracy === null ? "" : `, test accuracy ${percent(e.testAccuracy)}, test loss ${e.testLoss!.toFixed(4)}`} (${e.seconds.toFixed(1)} s)`);
          },
          signal: interrupt.signal,
        };
        const result = await train(data, options).catch(async (error) => {
          // With --overwrite, an epoch state of another run (refused before any work) is discarded and training starts
          // over, as --overwrite replaces the model; a state of this run is still resumed.
          const state = options.epochState;
          if (state === undefined || !isLesionError(error) || error.code !== "resume-mismatch") throw error;
          // The library's refusal, with the way out the command line adds.
          if (!flags.overwrite) fail("resume-mismatch", `${error.message} (--overwrite starts over)`, { path: state });
          rmSync(state, { force: true });
          console.error(`lesion: --overwrite: removed ${state}, which does not resume this run; training from the start`);
          return train(data, options);
        });
        progress.stop();
        for (const w of result.warnings) console.error(warningLine(w));
        writeFileAtomic(paths.initial, result.initial);
        // The history carries the run's identity and both models' hashes: the same command again trains nothing.
        const history = trainHistoryFile(result, identity);
        writeFileAtomic(paths.history, `${JSON.stringify(history, null, 2)}\n`);
        writeFileAtomic(output, result.model);
        // Also without --epoch-state: a state left at this path by a killed run could only resume a run writing these
        // files, which now hold this run's model (a trial found a killed run's 10 MB state kept for good).
        rmSync(`${stem}.epoch-state.json`, { force: true });
        if (flags.json) return printJson(history);
        console.log(`wrote ${output} (and ${paths.initial}, ${paths.history})`);
      } finally {
        interrupt.dispose();
        progress.stop();
      }
    });
}
