import type { Command } from "commander";
import { closeModel, openModel } from "../engine/model.js";
import { evaluate, type EvaluateOptions } from "../engine/evaluate.js";
import { provenance } from "../runs/provenance.js";
import { parseOptionalInteger, percent, printJson, progressReporter, loadModelData, type FlagTable } from "./common.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<EvaluateOptions> = { batchSize: "--batch-size <n>", onProgress: null /* progress bar on a TTY */, signal: null /* Ctrl-C */ };

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("accuracy overall and per class, confusion matrix and loss of a model on a data set")
    .argument("<model>", "ONNX model file")
    .requiredOption("--data <spec>", "data set: mnist[:train|test], fashion-mnist, cifar10, idx:…, npy:…, or a folder")
    .option(FLAGS.batchSize!, "samples per run (default 1024; a network with conv sites: as many as keep its largest activation under 4 MiB a run)")
    .option("--json", "print the result as JSON")
    .action(async (path: string, flags: { data: string; batchSize?: string; json?: boolean }) => {
      const model = await openModel(path);
      const data = await loadModelData(flags.data, model);
      const progress = progressReporter();
      try {
        const result = await evaluate(model, data, { batchSize: parseOptionalInteger(flags.batchSize, "--batch-size"), onProgress: progress.onProgress });
        progress.stop();
        // Before the numbers they may explain (a trial missed the missing-normalisation warning under the classes).
        for (const w of result.warnings) console.error(warningLine(w));
        if (flags.json) return printJson({ ...result, provenance: provenance(model, data) });
        console.log(`${result.model} on ${result.data} (${result.n} samples): accuracy ${percent(result.accuracy)}, loss ${result.loss.toFixed(4)}`);
        for (const line of perClassLines(result.classNames, result.perClass, result.classCounts)) console.log(line);
      } finally {
        progress.stop();
        await closeModel(model);
      }
    });
}

/**
 * The per-class table: one line per class with samples. Where every class name is an integer that is not its output
 * index (ImageFolder's text order numbers a nameless model's folder 10/ as class 2), the line names both, so that the
 * row "10" is not read as output 10; classes without samples are counted in one line, not listed as n/a.
 */
function perClassLines(names: string[], perClass: (number | null)[], counts: number[]): string[] {
  const renumbered = names.every((name) => /^\d+$/.test(name)) && names.some((name, c) => Number(name) !== c);
  const lines: string[] = [];
  names.forEach((name, c) => {
    if (counts[c] === 0) return;
    const label = renumbered ? `${name} (output ${c})` : name;
    lines.push(`  ${label.padEnd(12)} ${percent(perClass[c])}  (${counts[c]})`);
  });
  const empty = counts.filter((count) => count === 0).length;
  if (empty > 0) lines.push(`  (${empty} of ${names.length} classes have no samples here: not listed)`);
  return lines;
}
