// CNN benchmark (issue #14 item 3): `npm run bench:cnn` (also run by `npm run bench`), writes bench/results/cnn.{json,md}.
// Model: the VGG fixture test/fixtures/cnn/vgg_bn.onnx (5 conv sites + 1 dense, BatchNorm folded), imported with its
// per-channel mean/std; data: cifar10:test, the bundled 1,000 images. For every site, every filter zeroed alone, with
// lesion's ablate() (the command line's default: loss on), against in the same process the naive loop: one full
// onnxruntime forward pass of the masked network per condition over all images, same threads and the same graph
// optimisation as lesion's delta path, timed on NAIVE_SAMPLE (default 4) conditions per site and extrapolated to the
// site's filters; the sampled conditions' per-class counts and losses are compared (exactness in the same run).
// Then the PyTorch forward-hook loop (bench/cnn_torch.py) where /usr/bin/python3 has torch and onnx, TORCH_SAMPLE
// (default 2) conditions per site timed and extrapolated, right after each repetition; skipped with a note otherwise. Each repetition (REPEATS,
// default 3) is a fresh Node process; the report gives medians and ranges.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { naiveScore } from "./naiveScore.mjs";

const NAIVE_SAMPLE = Number(process.env.NAIVE_SAMPLE ?? 4);
const TORCH_SAMPLE = Number(process.env.TORCH_SAMPLE ?? 2);
const REPEATS = Number(process.env.REPEATS ?? 3);
const fixture = fileURLToPath(new URL("../test/fixtures/cnn/vgg_bn.onnx", import.meta.url));
const cifar = fileURLToPath(new URL("../assets/data/cifar10/test_batch_first1000.bin.gz", import.meta.url));
const out = fileURLToPath(new URL("./results/", import.meta.url));
const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];
// The last conv stage of the VGG fixture: its one conv block after the second pool.
const LAST_STAGE = ["features.14"];

if (process.argv[2] === "--repetition") {
  process.stdout.write(`${JSON.stringify(await repetition())}\n`);
} else {
  const runs = [];
  for (let r = 0; r < REPEATS; r++) {
    const line = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--repetition"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 2 ** 20 });
    runs.push(JSON.parse(line.trim().split("\n").pop()));
    console.log(`repetition ${r + 1}/${REPEATS}: whole sweep ${runs[r].seconds.toFixed(1)} s (naive ${runs[r].naiveSeconds.toFixed(1)} s); ${runs[r].rows.map((row) => `${row.site} ${row.seconds.toFixed(2)} s`).join(", ")}`);
    // Right after each repetition, so a shared machine's load drifts little between the two.
    runs[r].torch = torchLoop(runs[r]);
  }
  report(runs, runs.some((run) => !run.torch) ? null : torchSummary(runs));
}

/** Per site, the median over repetitions of the PyTorch loop's time and of its ratio to lesion's time in that repetition. */
function torchSummary(runs) {
  const rows = runs[0].torch.rows.map((row, i) => ({
    site: row.site,
    timed: row.timed,
    seconds: median(runs.map((run) => run.torch.rows[i].seconds)),
    speedup: median(runs.map((run) => run.torch.rows[i].seconds / run.rows[i].seconds)),
    countDifferences: Math.max(...runs.map((run) => run.torch.rows[i].countDifferences)),
  }));
  const ratio = (pick) => median(runs.map((run) => pick(run.torch.rows) / pick(run.rows)));
  const lastOf = (rows) => rows.filter((r) => LAST_STAGE.includes(r.site)).reduce((s, r) => s + r.seconds, 0);
  return { rows, seconds: median(runs.map((run) => run.torch.seconds)), speedup: ratio((rows) => rows.reduce((s, r) => s + r.seconds, 0)), lastSeconds: median(runs.map((run) => lastOf(run.torch.rows))), lastSpeedup: ratio(lastOf) };
}

/** The PyTorch hook loop (bench/cnn_torch.py), or null with a line saying why. */
function torchLoop(run) {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) {
    console.log("PyTorch hook loop skipped: /usr/bin/python3 not found (apt-get install python3-torch python3-onnx)");
    return null;
  }
  try {
    const script = fileURLToPath(new URL("./cnn_torch.py", import.meta.url));
    const sites = JSON.parse(execFileSync(python, [script, fixture, cifar, String(cpus().length), String(TORCH_SAMPLE)], { encoding: "utf8" }));
    const rows = run.rows.map((row) => {
      const t = sites[row.site];
      // Exactness: the timed conditions' counts against lesion's (PyTorch float32 may differ on near ties).
      const differences = t.units.reduce((sum, u) => sum + u.correctPerClass.reduce((s, v, j) => s + Math.abs(v - row.counts[u.unit][j]), 0), 0);
      return { site: row.site, timed: t.timed, seconds: t.secondsPerCondition * row.conditions, countDifferences: differences };
    });
    const seconds = rows.reduce((sum, r) => sum + r.seconds, 0);
    console.log(`PyTorch hook loop, whole sweep: ${seconds.toFixed(1)} s (extrapolated from ${TORCH_SAMPLE} conditions per site)`);
    return { rows, seconds };
  } catch (error) {
    console.log(`PyTorch hook loop skipped: ${error.message.split("\n")[0]} (apt-get install python3-torch python3-onnx)`);
    return null;
  }
}

/** One repetition in this process: per site, lesion's sweep of every filter, then the naive loop on a sample. */
async function repetition() {
  const { loadDataset } = await import("../dist/data/loadDataset.js");
  const { getSession, openModel, resolveSite } = await import("../dist/engine/model.js");
  const { createSession, OrtTensor } = await import("../dist/engine/ort.js");
  const { fillInput } = await import("../dist/engine/input.js");
  const { CONV_OPTIMIZATION } = await import("../dist/engine/sweep/convSweep.js");
  const { planSweep } = await import("../dist/engine/sweep/sweep.js");
  const { maskInputName, maskShape, offsetInputName, withMasks, withOutputs } = await import("../dist/onnx/surgery.js");
  const { encodeModel, tensorDims } = await import("../dist/onnx/proto.js");
  const { ablate } = await import("../dist/study/ablate.js");
  const { singles } = await import("../dist/study/conditions.js");
  const { importModel } = await import("../dist/models/importModel.js");

  const imported = await importModel(fixture, { mean: MEAN, std: STD });
  const model = await openModel(imported.bytes, { name: "vgg_bn" });
  // An empty cache directory: the bundled 1,000 test images.
  const data = await loadDataset("cifar10:test", { cacheDir: mkdtempSync(join(tmpdir(), "lesion-bench-cnn-")) });
  const k = model.numClasses;
  const forwardFlop = await flopPerImage();
  const input = new Float32Array(data.n * 3 * 32 * 32);
  fillInput(input, data.images, 0, data.n, data.shape, model.preprocessing);
  const feedInput = new OrtTensor("float32", input, [data.n, ...model.inputShape]);

  /** Multiply-adds ×2 of one forward pass of one image: Conv and Gemm nodes, from their weights and output shapes. */
  async function flopPerImage() {
    const graph = model.proto.graph;
    const layers = graph.node.filter((n) => n.opType === "Conv" || n.opType === "Gemm");
    const session = await getSession(model, "bench:flop", () => withOutputs(model.proto, layers.map((n) => n.output[0])));
    const outputs = await session.run({ [model.inputName]: new OrtTensor("float32", new Float32Array(3 * 32 * 32), [1, ...model.inputShape]) });
    return layers.reduce((sum, n) => {
      const weight = tensorDims(graph.initializer.find((t) => t.name === n.input[1]));
      const fanIn = weight.slice(1).reduce((a, b) => a * b, 1);
      const outputs1 = outputs[n.output[0]].dims.slice(1).reduce((a, b) => a * b, 1);
      return sum + 2 * fanIn * outputs1;
    }, 0);
  }

  async function naive(site, units) {
    const target = { name: site.name, tensor: site.tensor, rank: site.shape.length + 1, units: site.units };
    // As a user's own loop would make it: onnxruntime's defaults (its memory arena on), not lesion's CNN sessions,
    // which run without the arena (each run's tensors allocated anew) so that a study's many sessions hold no memory.
    const session = await createSession(encodeModel(withMasks(model.proto, [target])), model.threads, { optimization: CONV_OPTIMIZATION });
    const dims = maskShape(target, 1);
    const offset = new OrtTensor("float32", new Float32Array(site.units), dims);
    const counts = [];
    const losses = [];
    const started = performance.now();
    for (const unit of units) {
      const mask = new Float32Array(site.units).fill(1);
      mask[unit] = 0;
      const result = await session.run({ [model.inputName]: feedInput, [maskInputName(site.name)]: new OrtTensor("float32", mask, dims), [offsetInputName(site.name)]: offset });
      const logits = result[model.outputName].data;
      const { correct, loss } = naiveScore(logits, data.labels, data.n, k, true);
      counts.push(correct);
      losses.push(loss);
    }
    const seconds = (performance.now() - started) / 1000;
    await session.release();
    return { seconds, counts, losses };
  }

  // Every site but the logits themselves: zeroing a logit runs on the masked path, not the delta path timed here.
  const sites = model.sites.filter((s) => s.tensor !== model.outputName);
  // lesion's sweeps first, so the peak RSS is theirs (the naive loop's sessions come after).
  const sweeps = [];
  for (const { name } of sites) {
    const site = resolveSite(model, name);
    const conditions = singles(site);
    const engine = (await planSweep(model, site, conditions)).engine;
    const started = performance.now();
    const fast = await ablate(model, data, { conditions, loss: true });
    sweeps.push({ site, conditions, engine, fast, seconds: (performance.now() - started) / 1000 });
  }
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const rows = [];
  for (const { site, conditions, engine, fast, seconds } of sweeps) {
    const counts = fast.conditions.map((c) => c.perClass.map((p, j) => Math.round(p * fast.classCounts[j])));
    const step = Math.max(1, Math.floor(site.units / NAIVE_SAMPLE));
    const picked = Array.from({ length: Math.min(NAIVE_SAMPLE, site.units) }, (_, i) => i * step);
    const reference = await naive(site, picked);
    let differences = 0;
    let lossDifference = 0;
    picked.forEach((unit, i) => {
      differences += counts[unit].reduce((sum, v, j) => sum + Math.abs(v - reference.counts[i][j]), 0);
      lossDifference = Math.max(lossDifference, Math.abs(fast.conditions[unit].loss - reference.losses[i]) / reference.losses[i]);
    });
    rows.push({
      site: site.name,
      engine,
      conditions: conditions.length,
      seconds,
      naiveSeconds: (reference.seconds / picked.length) * conditions.length,
      naiveSampled: picked.length,
      naiveGflops: (forwardFlop * data.n * picked.length) / reference.seconds / 1e9,
      effectiveGflops: (forwardFlop * data.n * conditions.length) / seconds / 1e9,
      sampledCountDifferences: differences,
      sampledLossDifference: lossDifference,
      unresolvedTies: fast.unresolvedTies,
      counts,
    });
  }
  const total = (key) => rows.reduce((sum, r) => sum + r[key], 0);
  return { forwardGflop: (forwardFlop * data.n) / 1e9, conditions: total("conditions"), seconds: total("seconds"), naiveSeconds: total("naiveSeconds"), rows, peakRssMiB, optimization: CONV_OPTIMIZATION };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function report(runs, torch) {
  const first = runs[0];
  const summary = (pick) => {
    const lesion = runs.map((run) => pick(run).seconds);
    const naive = runs.map((run) => pick(run).naiveSeconds);
    const ratios = runs.map((run) => pick(run).naiveSeconds / pick(run).seconds);
    return { seconds: median(lesion), secondsRange: [Math.min(...lesion), Math.max(...lesion)], naiveSeconds: median(naive), speedup: median(ratios), speedupRange: [Math.min(...ratios), Math.max(...ratios)] };
  };
  const rows = first.rows.map((row, i) => ({
    site: row.site,
    engine: row.engine,
    conditions: row.conditions,
    ...summary((run) => run.rows[i]),
    naiveSampled: row.naiveSampled,
    naiveGflops: median(runs.map((run) => run.rows[i].naiveGflops)),
    effectiveGflops: median(runs.map((run) => run.rows[i].effectiveGflops)),
    sampledCountDifferences: Math.max(...runs.map((run) => run.rows[i].sampledCountDifferences)),
    sampledLossDifference: Math.max(...runs.map((run) => run.rows[i].sampledLossDifference)),
    unresolvedTies: Math.max(...runs.map((run) => run.rows[i].unresolvedTies)),
    torchSeconds: torch ? torch.rows[i].seconds : null,
    torchSpeedup: torch ? torch.rows[i].speedup : null,
    torchCountDifferences: torch ? torch.rows[i].countDifferences : null,
  }));
  const lastStage = (run) => ({ seconds: run.rows.filter((r) => LAST_STAGE.includes(r.site)).reduce((s, r) => s + r.seconds, 0), naiveSeconds: run.rows.filter((r) => LAST_STAGE.includes(r.site)).reduce((s, r) => s + r.naiveSeconds, 0) });
  const whole = summary((run) => run);
  const last = summary(lastStage);
  const torchLast = torch ? torch.lastSeconds : null;
  const result = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    model: "test/fixtures/cnn/vgg_bn.onnx",
    data: "cifar10:test (bundled 1,000 images)",
    repetitions: runs.length,
    optimization: first.optimization,
    forwardGflop: first.forwardGflop,
    wholeSweep: { conditions: first.conditions, ...whole, torchSeconds: torch?.seconds ?? null, torchSpeedup: torch?.speedup ?? null },
    lastConvStage: { sites: LAST_STAGE, ...last, torchSeconds: torchLast, torchSpeedup: torch?.lastSpeedup ?? null },
    rows,
    peakRssMiB: Math.max(...runs.map((run) => run.peakRssMiB)),
    torch: torch ? { timedPerSite: torch.rows[0].timed, seconds: torch.seconds } : null,
    note: "lesion = ablate() of every filter of the site (loss on), in a fresh Node process per repetition, after model import and data loading. naive = one full onnxruntime forward pass of the masked network per condition over the 1,000 images (same threads, same graph optimisation as lesion's delta path, onnxruntime's memory arena on as by default), timed on naiveSampled conditions per site and extrapolated. Speed-ups are medians of per-repetition ratios (naive / lesion, both timed in the same process). GFLOP/s: the naive loop's measured rate, and lesion's effective rate (the naive loop's FLOP for all conditions / lesion's time). Count differences are |lesion − naive| summed over classes on the sampled conditions (float32 naive may differ on near ties; lesion's are float64-exact). The PyTorch hook loop (bench/cnn_torch.py, float32, the same threads) runs right after each repetition, in its own process, timed on its own sample per site and extrapolated; its speed-ups are medians of per-repetition ratios too.",
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}cnn.json`, `${JSON.stringify(result, null, 2)}\n`);
  const range = ([a, b], digits, unit = "") => `${a.toFixed(digits)}${unit}–${b.toFixed(digits)}${unit}`;
  const x = (v) => (v === null ? "" : `${v.toFixed(1)}×`);
  const md = [
    `# CNN benchmark: ${result.model} on ${result.data}`,
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run bench:cnn\` (${result.repetitions} repetitions, each a fresh process). One forward pass over the data: ${result.forwardGflop.toFixed(1)} GFLOP.`,
    "",
    `Whole sweep (every filter of every site, ${result.wholeSweep.conditions} conditions): lesion **${whole.seconds.toFixed(1)} s** (${range(whole.secondsRange, 1, " s")}), naive onnxruntime loop ${whole.naiveSeconds.toFixed(1)} s: **${whole.speedup.toFixed(1)}×** (${range(whole.speedupRange, 1, "×")}); PyTorch hook loop ${torch ? `${torch.seconds.toFixed(1)} s: **${x(result.wholeSweep.torchSpeedup)}**` : "skipped"}.`,
    `Last conv stage (${LAST_STAGE.join(", ")}): lesion ${last.seconds.toFixed(2)} s, naive ${last.naiveSeconds.toFixed(1)} s: **${last.speedup.toFixed(1)}×** (${range(last.speedupRange, 1, "×")}); PyTorch hook loop ${torchLast === null ? "skipped" : `${torchLast.toFixed(1)} s: **${x(result.lastConvStage.torchSpeedup)}**`}.`,
    "",
    "| site | path | filters | lesion (s, median) | range (s) | naive loop (s, extrapolated) | speed-up (median) | range | naive GFLOP/s | lesion effective GFLOP/s | count differences (sampled) | largest relative loss difference | unresolved ties | PyTorch hook loop (s) | vs PyTorch | PyTorch count differences |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.site} | ${r.engine} | ${r.conditions} | ${r.seconds.toFixed(2)} | ${range(r.secondsRange, 2)} | ${r.naiveSeconds.toFixed(1)} (${r.naiveSampled} timed) | ${r.speedup.toFixed(1)}× | ${range(r.speedupRange, 1, "×")} | ${r.naiveGflops.toFixed(1)} | ${r.effectiveGflops.toFixed(1)} | ${r.sampledCountDifferences} | ${r.sampledLossDifference.toExponential(1)} | ${r.unresolvedTies} | ${r.torchSeconds === null ? "" : r.torchSeconds.toFixed(1)} | ${r.torchSpeedup === null ? "" : x(r.torchSpeedup)} | ${r.torchCountDifferences ?? ""} |`,
    ),
    "",
    `Peak RSS of lesion's sweeps (largest over repetitions; measured before the naive loop runs): ${result.peakRssMiB.toFixed(0)} MiB.`,
    "",
    torch ? `PyTorch hook loop: ${result.torch.timedPerSite} conditions per site timed, extrapolated.` : "PyTorch hook loop: skipped (needs /usr/bin/python3 with torch and onnx).",
    "",
    result.note,
    "",
  ];
  writeFileSync(`${out}cnn.md`, md.join("\n"));
  console.log(`whole sweep ${whole.seconds.toFixed(1)} s: ${whole.speedup.toFixed(1)}× naive${torch ? `, ${x(result.wholeSweep.torchSpeedup)} PyTorch` : ""}; last conv stage ${last.speedup.toFixed(1)}× naive${torchLast === null ? "" : `, ${x(result.lastConvStage.torchSpeedup)} PyTorch`}; peak RSS ${result.peakRssMiB.toFixed(0)} MiB → bench/results/cnn.{json,md}`);
}
