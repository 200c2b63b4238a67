import type { Command } from "commander";
import { fail } from "../errors.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../engine/model.js";
import { characterize, type CharacterizeOptions } from "../study/characterize.js";
import { characterizeFiles } from "../runs/characterizeFiles.js";
import { provenance } from "../runs/provenance.js";
import { abortOnInterrupt, claimOutput, type FlagTable, loadModelData, OVERWRITE_FLAG, OVERWRITE_HELP, parseInteger, parseOptionalInteger, parseList, percent, printJson, progressReporter, reuseFinished } from "./common.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<CharacterizeOptions> = {
  singles: null /* the study's singles step, passed in by `lesion study` */,
  sites: "--sites <names>",
  initial: "--initial <model>",
  k: "--k <n>",
  maxK: "--max-k <n>",
  seed: "--seed <n>",
  map: "--no-map",
  batchSize: "--batch-size <n>",
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

interface CharacterizeFlags {
  data: string;
  sites?: string;
  initial?: string;
  k?: string;
  maxK: string;
  seed: string;
  map: boolean;
  mapSamples: string;
  batchSize?: string;
  output: string;
  overwrite?: boolean;
  json?: boolean;
}

export function registerCharacterize(program: Command): void {
  program
    .command("characterize")
    .description("indicators per unit, what predicts importance, functional populations and their group ablations")
    .argument("<model>", "ONNX model file")
    .requiredOption("--data <spec>", "data set: mnist[:train|test], fashion-mnist, cifar10, idx:…, npy:…, or a folder")
    .option(FLAGS.sites!, "comma-separated sites (default: every hidden site)")
    .option(FLAGS.initial!, "the same network before training (ONNX), for weight change and the Mann–Whitney test")
    .option(FLAGS.k!, "populations per grouping (default: best silhouette)")
    .option(FLAGS.maxK!, "largest number of populations tried", "8")
    .option(FLAGS.seed!, "seed of k-means, t-SNE and UMAP", "0")
    .option(FLAGS.map!, "skip the stimulus map (PCA + t-SNE of the images, cached per data set)")
    .option("--map-samples <n>", "images on the stimulus map", "2000")
    .option(FLAGS.batchSize!, "samples per run (default 1024; a network with conv sites: as many as keep its largest activation under 4 MiB a run)")
    .option("-o, --output <dir>", "result directory", "out/characterize")
    .option(OVERWRITE_FLAG, OVERWRITE_HELP)
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: CharacterizeFlags, command: Command) => {
      if (!flags.map && command.getOptionValueSource("mapSamples") === "cli") fail("bad-option", "--map-samples sizes the stimulus map, which --no-map leaves out", { options: ["mapSamples", "map"] });
      const options = {
        sites: flags.sites !== undefined ? parseList(flags.sites, "--sites") : undefined,
        k: flags.k ? parseInteger(flags.k, "--k", 1) : undefined,
        maxK: parseInteger(flags.maxK, "--max-k", 2),
        seed: parseInteger(flags.seed, "--seed", 0),
        map: flags.map ? { samples: parseInteger(flags.mapSamples, "--map-samples", 10) } : (false as const),
        batchSize: parseOptionalInteger(flags.batchSize, "--batch-size"),
      };
      const model = await openModel(path);
      const data = await loadModelData(flags.data, model);
      let initial: LesionModel | undefined;
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      let output: ReturnType<typeof claimOutput> | undefined;
      try {
        initial = flags.initial ? await openModel(flags.initial) : undefined;
        // Everything but the batch size, which changes no result.
        const { batchSize: _batchSize, ...identity } = options;
        // Checked before the directory is claimed: with --overwrite, claiming removes its previous run.
        for (const site of options.sites ?? []) resolveSite(model, site);
        output = claimOutput(flags.output, "characterize", model, data, { ...identity, k: identity.k ?? null, initial: initial?.sha256 ?? null }, flags.overwrite);
        if (reuseFinished(output, flags)) return;
        const result = await characterize(model, data, { ...options, initial, onProgress: progress.onProgress, signal: interrupt.signal });
        progress.stop();
        const { files, summary } = characterizeFiles(result, { modelSha256: model.sha256, initial: initial?.name ?? null, provenance: provenance(model, data, options.seed) });
        output.write(files, summary);
        for (const w of result.warnings) console.error(warningLine(w));
        if (flags.json) return printJson(summary);
        console.log(`characterised ${result.indicators.sites.length} site(s) of ${model.name} on ${data.spec} (baseline ${percent(result.indicators.baseline.accuracy)}) → ${flags.output}`);
        for (const s of result.indicators.sites) {
          const groups = result.populations.find((p) => p.site === s.site)!;
          const [activation, impact] = ["activation", "impact"].map((by) => groups.groupings.find((g) => g.by === by && g.method === "hierarchical")!.k);
          const capped = groups.groupings.filter((g) => g.capped).map((g) => `${g.by} (${g.method})`);
          console.log(`  ${s.site.padEnd(16)} ${String(s.units).padStart(5)} units, ${s.dead.length} dead, ${activation} activation / ${impact} impact populations (ARI ${groups.agreement.ari.toFixed(2)})${capped.length ? `; ${capped.join(", ")} at --max-k ${flags.maxK}: more might score higher` : ""}`);
        }
      } finally {
        output?.release();
        interrupt.dispose();
        progress.stop();
        await closeModel(model);
        if (initial) await closeModel(initial);
      }
    });
}
