import type { Command } from "commander";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { absoluteDataSpec } from "../data/parseDataSpec.js";
import { closeModel, openModel } from "../engine/model.js";
import { fail } from "../errors.js";
import { explore, type ExploreOptions } from "../explore/explore.js";
import { checkOutputFile, checkWritableDir, writeFileAtomic } from "../files.js";
import { abortOnInterrupt, loadModelData, OVERWRITE_FLAG, parseInteger, parseList, percent, progressReporter, type FlagTable } from "./common.js";

const FLAGS: FlagTable<ExploreOptions> = {
  sites: "--sites <names>",
  samples: "--samples <n>",
  seed: "--seed <n>",
  populations: "--populations",
  map: "--map",
  modelPath: null /* the MODEL argument */,
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

export function registerExplore(program: Command): void {
  program
    .command("explore")
    .description("one offline HTML page that runs the network: click units to silence them, see what each class loses")
    .argument("<model>", "ONNX model file")
    .requiredOption("--data <spec>", "data set: mnist[:train|test], fashion-mnist, cifar10, idx:…, npy:…, or a folder")
    .option(FLAGS.sites!, "comma-separated sites shown as columns (default: every hidden site)")
    .option(FLAGS.samples!, "samples in the page (default: all that fit a 50 MB page, a stratified sample beyond)")
    .option(FLAGS.seed!, "seed of the stratified sample", "0")
    .option(FLAGS.populations!, "compute functional populations for the population picker (clustering + group ablations)")
    .option(FLAGS.map!, "draw the stimulus map (t-SNE of 2,000 images, cached per data set) coloured by what the lesion does")
    .option("-o, --output <file>", "the page (an explorer page there is replaced; another file only with --overwrite)", "explorer.html")
    .option(OVERWRITE_FLAG, "replace the file at -o even where it is no explorer page")
    .action(async (path: string, flags: { data: string; sites?: string; samples?: string; seed: string; populations?: boolean; map?: boolean; output: string; overwrite?: boolean }) => {
      const options: ExploreOptions = {
        sites: flags.sites !== undefined ? parseList(flags.sites, "--sites") : undefined,
        samples: flags.samples ? parseInteger(flags.samples, "--samples") : undefined,
        seed: parseInteger(flags.seed, "--seed", 0),
        populations: flags.populations ?? false,
        map: flags.map ?? false,
        // The page's `lesion ablate` line works from any directory.
        modelPath: resolve(path),
      };
      // The page's path is checked before the page is built (seconds to minutes).
      checkOutputFile(flags.output);
      // A mistyped -o must not replace a user's file (a trial's `-o afile` did, silently): only an earlier page.
      if (!flags.overwrite && existsSync(flags.output) && !isExplorerPage(flags.output)) fail("resume-mismatch", `${flags.output} exists and is no lesion explorer page; choose another -o path, or --overwrite to replace it`, { path: flags.output, options: ["overwrite"] });
      checkWritableDir(dirname(resolve(flags.output)), "output directory");
      const model = await openModel(path);
      const data = await loadModelData(absoluteDataSpec(flags.data), model);
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      try {
        const result = await explore(model, data, { ...options, onProgress: progress.onProgress, signal: interrupt.signal });
        progress.stop();
        writeFileAtomic(flags.output, result.html);
        const size = `${(result.bytes / 2 ** 20).toFixed(1)} MB`;
        const samples = result.sampled ? `a stratified sample of ${result.n} of ${result.total}` : `all ${result.n}`;
        console.log(`explorer for ${model.name} on ${data.spec} (${samples} samples, sites ${result.sites.join(", ")}, intact ${percent(result.baseline.accuracy)}${result.wholeBaseline ? ` on the sample, ${percent(result.wholeBaseline.accuracy)} on all` : ""}) → ${flags.output} (${size})`);
      } finally {
        interrupt.dispose();
        progress.stop();
        await closeModel(model);
      }
    });
}

/** Whether the file at `path` starts as renderExplorer's pages do (their title within the first bytes). */
function isExplorerPage(path: string): boolean {
  const head = Buffer.alloc(512);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    return head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString("utf8").includes("<title>lesion explorer: ");
  } finally {
    closeSync(fd);
  }
}
