import type { Command } from "commander";
import { join } from "node:path";
import { dataIdentity } from "../data/dataIdentity.js";
import { fail } from "../errors.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../engine/model.js";
import { readFileChecked } from "../files.js";
import { decodeModel } from "../onnx/proto.js";
import { REPORT_FILE } from "../report/buildReport.js";
import { renderTransplantReport } from "../report/renderTransplantReport.js";
import { transplantReportData } from "../report/transplantReportData.js";
import { transplant, type TransplantOptions } from "../transplant/transplant.js";
import { transplantFiles } from "../runs/transplantFiles.js";
import { provenance } from "../runs/provenance.js";
import { abortOnInterrupt, claimOutput, loadTrainingData, type FlagTable, OVERWRITE_FLAG, OVERWRITE_HELP, parseClass, parseInteger, parseNumber, parseOptimizer, percent, points, printJson, progressReporter, reuseFinished, trainingSpecs } from "./common.js";
import { parseGroups, parseUnits } from "./parseUnits.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<TransplantOptions> = {
  test: "--test <spec>",
  class: "--class <k>",
  site: "--site <name>",
  units: "--units <list>",
  recipientSite: "--recipient-site <name>",
  budgetEpochs: "--budget-epochs <n>",
  budgetSamples: "--budget-samples <n>",
  batchSize: "--batch-size <n>",
  optimizer: "--optimizer <name>",
  lr: "--lr <rate>",
  seed: "--seed <n>",
  repeats: "--repeats <n>",
  resamples: "--resamples <n>",
  level: null /* 0.95 */,
  threads: null /* every core */,
  onProgress: null /* progress bar on a TTY */,
  onWarning: null /* printed to stderr */,
  signal: null /* Ctrl-C */,
};

interface TransplantFlags {
  into: string;
  data: string;
  test?: string;
  class?: string;
  site?: string;
  units?: string;
  recipientSite?: string;
  budgetEpochs: string;
  budgetSamples?: string;
  batchSize: string;
  optimizer: string;
  lr?: string;
  seed: string;
  repeats: string;
  resamples: string;
  output: string;
  overwrite?: boolean;
  json?: boolean;
}

/** `--units 3,7,12` or `@groups.json` holding one group (a population written by characterize, say). */
function transplantUnits(text: string): number[] {
  const spec = parseUnits(text);
  if (spec.kind === "list") return spec.units;
  if (spec.kind === "groups") {
    const groups = Object.entries(parseGroups(new TextDecoder().decode(readFileChecked(spec.path, "groups file")), spec.path));
    if (groups.length !== 1) fail("bad-groups", `${spec.path} holds ${groups.length} groups; transplant moves one population, so give a file with one group`, { path: spec.path });
    return groups[0][1];
  }
  fail("bad-units", `--units '${text}' names many conditions; transplant takes one list of units (3,7,12) or @groups.json with one group`);
}

export function registerTransplant(program: Command): void {
  program
    .command("transplant")
    .description("transplant a population of a donor's units (an MLP's or a plain CNN's) into a recipient, train its outgoing weights on a small budget, and compare with controls")
    .argument("<donor>", "ONNX model the units come from (an MLP or a plain CNN, batch norm included)")
    .requiredOption("--into <recipient>", "ONNX model the units go into (the same kind of network, inputs and classes)")
    .requiredOption("--data <spec>", "labelled budget images (a named set without a split means its train split)")
    .option(FLAGS.test!, "test data (default: the named set's test split)")
    .option(FLAGS.class!, "class (index or name) whose impact population is transplanted and whose gains are reported")
    .option(FLAGS.site!, "donor site (default: the last hidden layer, which feeds the output layer)")
    .option(FLAGS.units!, "donor units instead of the class's population: 3,7,12 or @groups.json with one group")
    .option(FLAGS.recipientSite!, "recipient site widened (default: the recipient's layer at the same depth)")
    .option(FLAGS.budgetEpochs!, "epochs over the budget images", "30")
    .option(FLAGS.budgetSamples!, "images drawn (seeded) from --data (default: all)")
    .option(FLAGS.batchSize!, "samples per step", "10")
    .option(FLAGS.optimizer!, "sgd (with momentum 0.9) or adam", "sgd")
    .option(FLAGS.lr!, "learning rate (default 0.01)")
    .option(FLAGS.seed!, "seed of shuffling, random units and fresh units", "0")
    .option(FLAGS.repeats!, "repeats with seeds seed, seed+1, …", "1")
    .option(FLAGS.resamples!, "bootstrap resamples for the intervals", "1000")
    .option("-o, --output <dir>", "result directory", "out/transplant")
    .option(OVERWRITE_FLAG, OVERWRITE_HELP)
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: TransplantFlags) => {
      const optimizer = parseOptimizer(flags.optimizer);
      if (flags.class === undefined && flags.units === undefined) fail("bad-option", "transplant needs --class K (the population is chosen from the donor) or --site S --units LIST", { options: ["class", "units"] });
      const units = flags.units === undefined ? undefined : transplantUnits(flags.units);
      const specs = trainingSpecs(flags.data, flags.test);
      if (!specs.test) fail("bad-option", "--test is needed when --data is not a named data set", { options: ["test"] });
      const options: Omit<TransplantOptions, "test"> = {
        // A class name (--class cat) is resolved once the recipient's names are known.
        class: undefined,
        site: flags.site,
        units,
        recipientSite: flags.recipientSite,
        budgetEpochs: parseInteger(flags.budgetEpochs, "--budget-epochs"),
        budgetSamples: flags.budgetSamples === undefined ? undefined : parseInteger(flags.budgetSamples, "--budget-samples"),
        batchSize: parseInteger(flags.batchSize, "--batch-size"),
        optimizer,
        lr: flags.lr === undefined ? undefined : parseNumber(flags.lr, "--lr"),
        seed: parseInteger(flags.seed, "--seed", 0),
        repeats: parseInteger(flags.repeats, "--repeats"),
        resamples: parseInteger(flags.resamples, "--resamples"),
      };
      let donor: LesionModel | null = null;
      let recipient: LesionModel | null = null;
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      let output: ReturnType<typeof claimOutput> | undefined;
      try {
        donor = await openModel(path);
        recipient = await openModel(flags.into);
        // Image folders are read for the recipient: its class names, classes and channels (the donor must share them).
        const { data, test } = await loadTrainingData({ train: specs.train, test: specs.test }, recipient);
        if (flags.class !== undefined) options.class = parseClass(flags.class, recipient.classNames, "--class", "the recipient");
        output = claimOutput(flags.output, "transplant", recipient, data, { ...options, units: options.units ?? null, donor: donor.sha256, test: dataIdentity(test) }, flags.overwrite);
        if (reuseFinished(output, flags)) return;
        const result = await transplant(donor, recipient, data, {
          ...options,
          test,
          onProgress: progress.onProgress,
          onWarning: (message) => console.error(warningLine(message)),
          signal: interrupt.signal,
        });
        progress.stop();
        const { files, summary: written } = transplantFiles(result);
        const summary = { ...written, files: [...written.files, REPORT_FILE], provenance: provenance(recipient, data, options.seed, { test }) };
        // The report is made from the same summary and model bytes that are written, before the summary (written last).
        const report = renderTransplantReport(transplantReportData(summary, decodeModel(result.model)));
        output.write([...files, { name: REPORT_FILE, kind: "bytes", data: new TextEncoder().encode(report) }], summary);
        if (flags.json) return printJson(summary);
        const k = result.class;
        // Named as the report and the CSV columns name it ("cat", not 3).
        const name = k === null ? "" : (result.classNames[k] ?? String(k));
        const cls = (o: { perClass: Array<number | null> }) => (k === null ? "" : `, class ${name} ${percent(o.perClass[k])}`);
        // A gain is a difference of accuracies: percentage points, signed.
        const gain = (g: { estimate: number; low: number; high: number } | null) => (g === null ? "n/a" : `${points(g.estimate)} [${points(g.low)}, ${points(g.high)}]`);
        // "others" pools the other classes' images: one class's large loss can hide in it, so the worst is named.
        const worstOther = (after: { perClass: Array<number | null> }) => {
          let worst: { c: number; d: number } | null = null;
          after.perClass.forEach((a, c) => {
            const b = result.before.perClass[c];
            if (c === k || a === null || b === null) return;
            if (!worst || a - b < worst.d) worst = { c, d: a - b };
          });
          const found = worst as { c: number; d: number } | null;
          return found && found.d < 0 ? ` (worst: class ${result.classNames[found.c] ?? found.c} ${points(found.d)})` : "";
        };
        // A conv site's units are its channels, and are called so.
        const what = resolveSite(donor!, result.population.site).kind === "conv" ? "channels" : "units";
        console.log(`${result.population.site} ${what} ${result.population.units.join(",")} of ${result.donor} → ${result.transplanted.site} ${what} ${result.transplanted.units.join(",")} → ${join(flags.output, "model.onnx")}`);
        console.log(`  before        ${percent(result.before.accuracy)}${cls(result.before)}`);
        for (const [i, g] of result.gains.entries()) {
          const after = i === 0 ? result.after : result.controls[i - 1].after;
          console.log(`  ${g.condition.padEnd(14)}${percent(after.accuracy)}${cls(after)}  gain ${k === null ? `overall ${gain(g.overall)}` : `class ${name} ${gain(g.target)}, others ${gain(g.others)}${worstOther(after)}`}`);
        }
        console.log(`  transplanted ${what} ablated: ${percent(result.ablationCheck.after.accuracy)}${cls(result.ablationCheck.after)}${result.ablationCheck.samePredictionsAsBefore ? " (the recipient's predictions exactly)" : ""}`);
        console.log(`report: ${join(flags.output, REPORT_FILE)}`);
      } finally {
        output?.release();
        interrupt.dispose();
        progress.stop();
        if (donor) await closeModel(donor);
        if (recipient) await closeModel(recipient);
      }
    });
}

