import type { Command } from "commander";
import { join } from "node:path";
import { loadDataset } from "../data/loadDataset.js";
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../engine/model.js";
import { ablate, type AblateOptions } from "../study/ablate.js";
import { ablateFiles } from "../study/ablateFiles.js";
import { condition, fractions, groups, pairs, singles, type AblationMode, type Condition, type FractionOrder } from "../study/conditions.js";
import type { Progress } from "../study/progress.js";
import { writeResultDir } from "../study/resultDir.js";
import { unitScores } from "../study/unitScores.js";
import { abortOnInterrupt, parseInteger, parseList, parseNumberList, percent, printJson, progressReporter, type FlagTable } from "./common.js";
import { parseGroups, parseUnits } from "./parseUnits.js";

const FLAGS: FlagTable<AblateOptions> = {
  conditions: null /* built from --site, --units, --fraction */,
  loss: "--no-loss",
  confusion: "--confusion",
  checkpoint: null /* always <output>/checkpoint.jsonl */,
  batchSize: "--batch-size <n>",
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

const MODES = ["zero", "mean"];
const ORDERS = ["random", "selectivity", "impact"];

interface AblateFlags {
  data: string;
  site: string;
  units: string;
  mode: string;
  fraction?: string;
  order: string;
  repeats: string;
  seed: string;
  loss: boolean;
  confusion?: boolean;
  batchSize: string;
  output: string;
  json?: boolean;
}

export function registerAblate(program: Command): void {
  program
    .command("ablate")
    .description("knock out units (singles, pairs, groups, fractions of a layer) and measure what each class loses")
    .argument("<model>", "ONNX model file")
    .requiredOption("--data <spec>", "data set: mnist[:train|test], fashion-mnist, cifar10, idx:…, npy:…, or a folder")
    .requiredOption("--site <names>", "site to ablate in (comma-separated for several)")
    .option("--units <spec>", "all (each unit alone), pairs (every pair), pairs:LIST (pairs among those units), a list such as 0,3,7 or 2-5 (one group), or @groups.json (named groups)", "all")
    .option("--mode <mode>", "zero (output forced to 0) or mean (output replaced by its data mean)", "zero")
    .option("--fraction <list>", "cumulative ablation of these fractions of each site's units, e.g. 0.1,0.25,0.5 (replaces --units)")
    .option("--order <order>", "unit order for --fraction: random, selectivity or impact", "random")
    .option("--repeats <n>", "random orders drawn for --fraction --order random", "1")
    .option("--seed <n>", "seed of the random orders", "0")
    .option(FLAGS.loss!, "skip the per-condition loss (pair sweeps run faster)")
    .option(FLAGS.confusion!, "write each condition's confusion matrix (confusion.npy)")
    .option(FLAGS.batchSize!, "samples per run", "1024")
    .option("-o, --output <dir>", "result directory (a rerun resumes an interrupted run there)", "out/ablate")
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: AblateFlags) => {
      if (!MODES.includes(flags.mode)) fail("bad-option", `--mode must be zero or mean, got '${flags.mode}'`);
      if (!ORDERS.includes(flags.order)) fail("bad-option", `--order must be one of ${ORDERS.join(", ")}, got '${flags.order}'`);
      const batchSize = parseInteger(flags.batchSize, "--batch-size");
      const data = await loadDataset(flags.data);
      const model = await openModel(path);
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      try {
        const conditions = await buildConditions(model, data, flags, { batchSize, onProgress: progress.onProgress, signal: interrupt.signal });
        const options: AblateOptions = { conditions, loss: flags.loss, confusion: flags.confusion ?? false, batchSize, checkpoint: join(flags.output, "checkpoint.jsonl") };
        const result = await ablate(model, data, { ...options, onProgress: progress.onProgress, signal: interrupt.signal });
        progress.stop();
        const { files, summary } = ablateFiles(result, { site: flags.site, mode: flags.mode as AblationMode, loss: flags.loss, confusion: flags.confusion ?? false });
        writeResultDir(flags.output, files, summary);
        if (flags.json) return printJson(summary);
        console.log(`${result.conditions.length} condition(s) on ${result.model}, ${result.data} (${result.n} samples), baseline ${percent(result.baseline.accuracy)} → ${flags.output}`);
        const worst = [...result.conditions].sort((a, b) => a.delta - b.delta).slice(0, 5);
        for (const c of worst) console.log(`  ${c.id.padEnd(28)} ${percent(c.accuracy)}  (${(c.delta * 100).toFixed(2)} pp)`);
        if (result.unresolvedTies > 0) console.error(`lesion: warning: ${result.unresolvedTies} near tie(s) could not be settled in float64 (the graph has ops neither onnxruntime nor lesion's float64 interpreter computes in float64)`);
      } finally {
        interrupt.dispose();
        progress.stop();
        await closeModel(model);
      }
    });
}

async function buildConditions(
  model: LesionModel,
  data: Dataset,
  flags: AblateFlags,
  run: { batchSize: number; onProgress: (event: Progress) => void; signal: AbortSignal },
): Promise<Condition[]> {
  const mode = flags.mode as AblationMode;
  // Per site, then concatenated: a wide layer has more pairs (130,816 for 512 units) than push(...list) takes.
  const perSite: Condition[][] = [];
  for (const name of parseList(flags.site)) {
    const site = resolveSite(model, name);
    if (flags.fraction !== undefined) {
      const order = flags.order as FractionOrder;
      const ranking = order === "random" ? undefined : await unitScores(model, data, site.name, { score: order, mode, ...run });
      perSite.push(fractions(site, { fractions: parseNumberList(flags.fraction, "--fraction"), order, ranking, repeats: parseInteger(flags.repeats, "--repeats"), seed: parseInteger(flags.seed, "--seed", 0), mode }));
      continue;
    }
    const units = parseUnits(flags.units);
    if (units.kind === "all") perSite.push(singles(site, mode));
    else if (units.kind === "pairs") perSite.push(pairs(site, mode, units.units ?? undefined));
    else if (units.kind === "list") perSite.push([condition(site, units.units, mode)]);
    else perSite.push(groups(site, parseGroups(readFileChecked(units.path, "groups file").toString("utf8"), units.path), mode));
  }
  return perSite.flat();
}
