import type { Command } from "commander";
import { closeModel, openModel, resolveSite } from "../engine/model.js";
import { record, type RecordOptions } from "../engine/record.js";
import { recordFiles } from "../runs/recordFiles.js";
import { provenance } from "../runs/provenance.js";
import { abortOnInterrupt, claimOutput, type FlagTable, loadModelData, OVERWRITE_FLAG, OVERWRITE_HELP, parseOptionalInteger, parseList, printJson, progressReporter, reuseFinished } from "./common.js";

const FLAGS: FlagTable<RecordOptions> = {
  sites: "--sites <names>",
  samples: "--samples",
  batchSize: "--batch-size <n>",
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

export function registerRecord(program: Command): void {
  program
    .command("record")
    .description("how every unit responds to each class: class means, mean, std, max, fraction active, dead units")
    .argument("<model>", "ONNX model file")
    .requiredOption("--data <spec>", "data set: mnist[:train|test], fashion-mnist, cifar10, idx:…, npy:…, or a folder")
    .option(FLAGS.sites!, "comma-separated sites (default: all)")
    .option(FLAGS.samples!, "also write every sample's activations (<site>.samples.npy)")
    .option(FLAGS.batchSize!, "samples per run (default 1024; a network with conv sites: as many as keep its largest activation under 4 MiB a run)")
    .option("-o, --output <dir>", "result directory", "out/record")
    .option(OVERWRITE_FLAG, OVERWRITE_HELP)
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: { data: string; sites?: string; samples?: boolean; batchSize?: string; output: string; overwrite?: boolean; json?: boolean }) => {
      const options: RecordOptions = {
        sites: flags.sites !== undefined ? parseList(flags.sites, "--sites") : undefined,
        samples: flags.samples ?? false,
        batchSize: parseOptionalInteger(flags.batchSize, "--batch-size"),
      };
      const model = await openModel(path);
      const data = await loadModelData(flags.data, model);
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      let output: ReturnType<typeof claimOutput> | undefined;
      try {
        // Checked before the directory is claimed: with --overwrite, claiming removes its previous run.
        for (const site of options.sites ?? []) resolveSite(model, site);
        output = claimOutput(flags.output, "record", model, data, { sites: options.sites ?? null, samples: options.samples }, flags.overwrite);
        if (reuseFinished(output, flags)) return;
        const result = await record(model, data, { ...options, onProgress: progress.onProgress, signal: interrupt.signal });
        progress.stop();
        const { files, summary } = recordFiles(result, model.sha256, options, provenance(model, data));
        output.write(files, summary);
        if (flags.json) return printJson(summary);
        console.log(`recorded ${result.sites.length} site(s) of ${result.model} on ${result.data} (${result.n} samples) → ${flags.output}`);
        // As wide as the longest name (a ResNet's `layer2.0.downsample.0` had pushed its row out of line).
        const width = Math.max(16, ...result.sites.map((s) => s.site.length));
        for (const s of result.sites) console.log(`  ${s.site.padEnd(width)} ${String(s.units).padStart(5)} units, ${s.dead.length} dead`);
        // Every site has the same empty classes (they come from the labels).
        const empty = result.sites[0]?.emptyClasses ?? [];
        if (empty.length > 0) console.log(`  no samples of class${empty.length === 1 ? "" : "es"} ${empty.map((c) => result.classNames[c]).join(", ")}: ${empty.length === 1 ? "its" : "their"} class means are NaN (empty in the CSV, null in JSON)`);
      } finally {
        output?.release();
        interrupt.dispose();
        progress.stop();
        await closeModel(model);
      }
    });
}
