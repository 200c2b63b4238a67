import type { Command } from "commander";
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../engine/model.js";
import { ablate, type AblateOptions } from "../study/ablate.js";
import { ablateFiles } from "../runs/ablateFiles.js";
import { RESUME_LOG_FILE } from "../runs/resultDir.js";
import { deltaIntervals } from "../study/deltaIntervals.js";
import { ABLATION_MODES, checkConditions, condition, fractions, groups, pairs, redundancySingles, singles, type AblationMode, type Condition, type FractionOrder } from "../study/conditions.js";
import type { Progress } from "../progress.js";
import { provenance } from "../runs/provenance.js";
import { sha256 } from "../files.js";
import { unitScores } from "../study/unitScores.js";
import { abortOnInterrupt, claimOutput, type FlagTable, loadModelData, OVERWRITE_FLAG, OVERWRITE_HELP, parseInteger, parseOptionalInteger, parseList, parseNumberList, percent, points, printJson, progressReporter, reuseFinished } from "./common.js";
import { parseGroups, parseUnits } from "./parseUnits.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<AblateOptions> = {
  conditions: null /* built from --site, --units, --fraction */,
  loss: "--no-loss",
  confusion: "--confusion",
  resumeLog: null /* always <output>/resume-log.jsonl */,
  keepResumeLog: null /* always: the result directory removes the log once the summary is written */,
  batchSize: "--batch-size <n>",
  onProgress: null /* progress bar on a TTY */,
  signal: null /* Ctrl-C */,
};

const ORDERS = ["random", "selectivity", "impact"];

interface AblateFlags {
  data: string;
  site: string;
  units: string;
  pairs?: string;
  mode: string;
  fraction?: string;
  order: string;
  repeats: string;
  seed: string;
  loss: boolean;
  confusion?: boolean;
  batchSize?: string;
  output: string;
  overwrite?: boolean;
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
    .option("--pairs <names>", "also every pair of units of these sites (comma-separated), in the same run: the standard sweep is --site h0,h1,h2 --units all --pairs h2")
    .option("--mode <mode>", "zero (output forced to 0) or mean (output replaced by its data mean)", "zero")
    .option("--fraction <list>", "cumulative ablation of these fractions of each site's units, e.g. 0.1,0.25,0.5 (replaces --units)")
    .option("--order <order>", "unit order for --fraction: random, selectivity or impact", "random")
    .option("--repeats <n>", "random orders drawn for --fraction --order random", "1")
    .option("--seed <n>", "seed of the random orders", "0")
    .option(FLAGS.loss!, "skip the per-condition loss (pair sweeps run faster)")
    .option(FLAGS.confusion!, "write each condition's confusion matrix (confusion.npy)")
    .option(FLAGS.batchSize!, "samples per run (default 1024; a network with conv sites: as many as keep its largest activation under 4 MiB a run)")
    .option("-o, --output <dir>", "result directory (a rerun resumes an interrupted run there)", "out/ablate")
    .option(OVERWRITE_FLAG, OVERWRITE_HELP)
    .option("--json", "print summary.json to stdout")
    .action(async (path: string, flags: AblateFlags, command: Command) => {
      // --units has a default: only one the user typed conflicts with the curve that replaces it.
      if (flags.fraction !== undefined && command.getOptionValueSource("units") === "cli") fail("bad-option", "--units cannot be combined with --fraction (a fraction curve replaces the units)", { options: ["units", "fraction"] });
      if (!(ABLATION_MODES as readonly string[]).includes(flags.mode)) fail("bad-option", `--mode must be zero or mean, got '${flags.mode}'`, { options: ["mode"], value: flags.mode });
      if (!ORDERS.includes(flags.order)) fail("bad-option", `--order must be one of ${ORDERS.join(", ")}, got '${flags.order}'`, { options: ["order"], value: flags.order });
      if (flags.pairs !== undefined && flags.fraction !== undefined) fail("bad-option", "--pairs cannot be combined with --fraction (a fraction curve replaces the units)", { options: ["pairs", "fraction"] });
      const batchSize = parseOptionalInteger(flags.batchSize, "--batch-size");
      const model = await openModel(path);
      const data = await loadModelData(flags.data, model);
      const progress = progressReporter();
      const interrupt = abortOnInterrupt();
      let output: ReturnType<typeof claimOutput> | undefined;
      try {
        // Everything the conditions and results depend on; a groups file by its content.
        // Read once: a pipe (`--units @<(…)`) gives its bytes to one read only.
        const groupsText = flags.units.startsWith("@") && flags.fraction === undefined ? readFileChecked(flags.units.slice(1), "groups file") : null;
        const groupsFile = groupsText ? sha256(groupsText) : null;
        const units = flags.fraction === undefined ? { units: flags.units, groupsFile } : { fraction: flags.fraction, order: flags.order, repeats: flags.repeats, seed: flags.seed };
        // Every site, unit and value checked before the directory is claimed: with --overwrite, claiming removes its
        // previous run (a trial's `--units 25 --overwrite` lost a finished run to a unit out of range). A fraction
        // curve's ranking (a sweep) is left for after.
        const planned = await buildConditions(model, data, flags, null, groupsText);
        checkConditions(model, planned);
        output = claimOutput(flags.output, "ablate", model, data, { site: siteNames(model, flags.site), pairs: flags.pairs === undefined ? null : siteNames(model, flags.pairs), ...units, mode: flags.mode, loss: flags.loss, confusion: flags.confusion ?? false }, flags.overwrite);
        if (reuseFinished(output, flags)) return;
        const ranked = flags.fraction !== undefined && flags.order !== "random";
        const conditions = ranked ? await buildConditions(model, data, flags, { batchSize, onProgress: progress.onProgress, signal: interrupt.signal }, groupsText) : planned;
        const options: AblateOptions = { conditions, loss: flags.loss, confusion: flags.confusion ?? false, batchSize, resumeLog: join(flags.output, RESUME_LOG_FILE), keepResumeLog: true };
        const result = await ablate(model, data, { ...options, onProgress: progress.onProgress, signal: interrupt.signal });
        progress.stop();
        const seed = flags.fraction !== undefined && flags.order === "random" ? parseInteger(flags.seed, "--seed", 0) : null;
        const { files, summary } = ablateFiles(result, { site: [...new Set([...parseList(flags.site), ...parseList(flags.pairs ?? "")])].join(","), loss: flags.loss, confusion: flags.confusion ?? false, provenance: provenance(model, data, seed) }, deltaIntervals(result, data.labels));
        output.write(files, summary);
        for (const w of result.warnings) console.error(warningLine(w));
        if (flags.json) return printJson(summary);
        // The progress and a resume count these singles too (5,050 for h2's 4,950 pairs): the line says where they went.
        const extra = redundancySingles(result.conditions).length;
        console.log(`${result.conditions.length} condition(s)${extra > 0 ? ` (and ${extra} single unit(s) the pairs' redundancy needs, not reported)` : ""} on ${result.model}, ${result.data} (${result.n} samples), baseline ${percent(result.baseline.accuracy)} → ${flags.output}`);
        if (result.conditions.every((c) => c.cumulative)) {
          // A fraction curve reads as a curve: one line per site, order and repeat, the accuracy at each fraction.
          const curves = new Map<string, string[]>();
          for (const c of result.conditions) {
            const key = `${c.site} ${c.cumulative!.order}${c.cumulative!.order === "random" ? ` #${c.cumulative!.repeat}` : ""}`;
            curves.set(key, [...(curves.get(key) ?? []), `${c.cumulative!.fraction} ${percent(c.accuracy)}`]);
          }
          const width = Math.max(...[...curves.keys()].map((k) => k.length + 1));
          for (const [key, points] of curves) console.log(`  ${key.padEnd(width)} ${points.join(", ")}`);
          return;
        }
        const worst = [...result.conditions].sort((a, b) => a.delta - b.delta).slice(0, 5);
        // One column for the longest id shown (a CNN's `features.1.block.2.fc1/zero/11` outgrew a fixed 28).
        const width = Math.max(28, ...worst.map((c) => c.id.length + 1));
        for (const c of worst) console.log(`  ${c.id.padEnd(width)} ${percent(c.accuracy)}  (${points(c.delta)})`);
      } finally {
        output?.release();
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
  run: { batchSize: number | undefined; onProgress: (event: Progress) => void; signal: AbortSignal } | null,
  groupsText: Buffer | null,
): Promise<Condition[]> {
  const mode = flags.mode as AblationMode;
  // Per site, then concatenated: a wide layer has more pairs (130,816 for 512 units) than push(...list) takes. A
  // site's --pairs follow its --units, so each site's conditions stay together (its CSV is that slice of summary.json).
  const perSite = new Map<string, Condition[][]>();
  const add = (site: string, list: Condition[]) => perSite.set(site, [...(perSite.get(site) ?? []), list]);
  for (const name of parseList(flags.site, "--site")) {
    const site = resolveSite(model, name);
    if (flags.fraction !== undefined) {
      // Without `run` (the check before any work), a ranked curve is built in random order: the same units and values.
      const order = run ? (flags.order as FractionOrder) : "random";
      const ranking = order === "random" ? undefined : await unitScores(model, data, site.name, { score: order, mode, ...run! });
      add(site.name, fractions(site, { fractions: parseNumberList(flags.fraction, "--fraction"), order, ranking, repeats: parseInteger(flags.repeats, "--repeats"), seed: parseInteger(flags.seed, "--seed", 0), mode }));
      continue;
    }
    const units = parseUnits(flags.units);
    if (units.kind === "all") add(site.name, singles(site, mode));
    else if (units.kind === "pairs") add(site.name, pairs(site, mode, units.units ?? undefined));
    else if (units.kind === "list") add(site.name, [condition(site, units.units, mode)]);
    else add(site.name, groups(site, parseGroups((groupsText ?? readFileChecked(units.path, "groups file")).toString("utf8"), units.path), mode));
  }
  // --pairs: every pair of these sites as well, each condition once (a pair already asked for by --units stays once).
  for (const name of parseList(flags.pairs ?? "")) {
    const site = resolveSite(model, name);
    add(site.name, pairs(site, mode));
  }
  const seen = new Set<string>();
  const conditions: Condition[] = [];
  for (const lists of perSite.values()) for (const list of lists) for (const c of list) if (!seen.has(c.id)) (seen.add(c.id), conditions.push(c));
  return conditions;
}

/** Sites as the model names them: `--site 2` (a module's name) and `--site 1` (its site's) are one run. */
function siteNames(model: LesionModel, list: string): string {
  return parseList(list).map((name) => resolveSite(model, name).name).join(",");
}
