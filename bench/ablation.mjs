// Benchmark of the ablation engine: `npm run bench` (builds, then runs this file with Node).
// Model: meyes2019-mlp100x3 (784-100-100-100-10) imported from ../shared/models; data: mnist:test (10,000 images).
// For each hidden layer, every single unit and every pair, with lesion's ablate() (loss off: pruning on), against
// the naive loop in the same run: one full forward pass of the masked network per condition, over all images, in
// onnxruntime, on a sample of the conditions (timed, then extrapolated to all of them; the report says so). The
// sampled conditions' per-class counts are compared between the two. Writes bench/results/ablation.{json,md}.
import { writeFileSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../dist/data/loadDataset.js";
import { closeModel, getSession, openModel, resolveSite } from "../dist/engine/model.js";
import { OrtTensor } from "../dist/engine/ort.js";
import { fillInput } from "../dist/engine/input.js";
import { maskInputName, offsetInputName, withMasks } from "../dist/onnx/surgery.js";
import { ablate } from "../dist/study/ablate.js";
import { pairs, singles } from "../dist/study/conditions.js";
import { importModel } from "../dist/study/importModel.js";

const NAIVE_SAMPLE = Number(process.env.NAIVE_SAMPLE ?? 40);
const checkpoint = fileURLToPath(new URL("../../shared/models/meyes2019-mlp100x3/trained.pt", import.meta.url));
const out = fileURLToPath(new URL("./results/", import.meta.url));

const imported = await importModel(checkpoint, { arch: "mlp", activation: "relu", mean: [0.5], std: [0.5] });
const model = await openModel(imported.bytes, { name: "meyes2019-mlp100x3" });
const data = await loadDataset("mnist:test");
const k = model.numClasses;
// Multiply-adds of one forward pass over the data set, ×2 for FLOP.
const layers = [[784, 100], [100, 100], [100, 100], [100, 10]];
const forwardFlop = 2 * data.n * layers.reduce((sum, [a, b]) => sum + a * b, 0);

async function naive(siteName, conditions) {
  const site = resolveSite(model, siteName);
  const target = { name: site.name, tensor: site.tensor, rank: 2, units: site.units };
  const session = await getSession(model, `bench:naive:${site.name}`, () => withMasks(model.proto, [target]));
  const input = new Float32Array(data.n * 784);
  fillInput(input, data.images, 0, data.n, data.shape, model.preprocessing);
  const feedInput = new OrtTensor("float32", input, [data.n, 784]);
  const offset = new OrtTensor("float32", new Float32Array(site.units), [1, site.units]);
  const counts = [];
  const started = performance.now();
  for (const c of conditions) {
    const mask = new Float32Array(site.units).fill(1);
    for (const u of c.units) mask[u] = 0;
    const result = await session.run({ [model.inputName]: feedInput, [maskInputName(site.name)]: new OrtTensor("float32", mask, [1, site.units]), [offsetInputName(site.name)]: offset });
    const logits = result[model.outputName].data;
    const correct = new Array(k).fill(0);
    for (let s = 0; s < data.n; s++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[s * k + j] > logits[s * k + best]) best = j;
      if (best === data.labels[s]) correct[best]++;
    }
    counts.push(correct);
  }
  return { seconds: (performance.now() - started) / 1000, counts };
}

function sample(list, count) {
  const step = Math.max(1, Math.floor(list.length / count));
  return list.filter((_, i) => i % step === 0).slice(0, count);
}

const rows = [];
const rssBefore = process.resourceUsage().maxRSS;
// The standard sweep of the shared note, as one run: singles of h0, h1, h2 and pairs of h2 (5,250 conditions).
const standard = [...singles(resolveSite(model, "h0")), ...singles(resolveSite(model, "h1")), ...singles(resolveSite(model, "h2")), ...pairs(resolveSite(model, "h2"))];
let started = performance.now();
await ablate(model, data, { conditions: standard, loss: false });
const standardSeconds = (performance.now() - started) / 1000;

for (const site of ["h0", "h1", "h2"]) {
  for (const kind of ["singles", "pairs"]) {
    const conditions = kind === "singles" ? singles(resolveSite(model, site)) : pairs(resolveSite(model, site));
    started = performance.now();
    const fast = await ablate(model, data, { conditions, loss: false });
    const fastSeconds = (performance.now() - started) / 1000;
    const picked = sample(conditions, NAIVE_SAMPLE);
    const reference = await naive(site, picked);
    const index = new Map(fast.conditions.map((c, i) => [c.id, i]));
    let disagreements = 0;
    picked.forEach((c, i) => {
      const result = fast.conditions[index.get(c.id)];
      const correct = result.perClass.map((p, j) => Math.round(p * fast.classCounts[j]));
      disagreements += correct.reduce((sum, v, j) => sum + Math.abs(v - reference.counts[i][j]), 0);
    });
    const naiveSeconds = (reference.seconds / picked.length) * conditions.length;
    rows.push({
      site,
      kind,
      conditions: conditions.length,
      seconds: fastSeconds,
      naiveSeconds,
      naiveSampled: picked.length,
      speedup: naiveSeconds / fastSeconds,
      naiveGflops: (forwardFlop * picked.length) / reference.seconds / 1e9,
      effectiveGflops: (forwardFlop * conditions.length) / fastSeconds / 1e9,
      sampledCountDifferences: disagreements,
    });
    console.log(`${site} ${kind}: ${conditions.length} conditions in ${fastSeconds.toFixed(3)} s; naive ≈ ${naiveSeconds.toFixed(1)} s (${picked.length} timed); ${(naiveSeconds / fastSeconds).toFixed(0)}× faster; count differences on sampled conditions: ${disagreements}`);
  }
}
await closeModel(model);
const result = {
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  model: "meyes2019-mlp100x3",
  data: "mnist:test",
  standardSweep: { conditions: standard.length, seconds: standardSeconds },
  rows,
  peakRssMiB: process.resourceUsage().maxRSS / 1024,
  startRssMiB: rssBefore / 1024,
  note: "Rows after the standard sweep reuse its one-time work kept while the model is open (the intact pass with cached activations and the per-layer bounds), as the naive loop reuses its prepared input tensor; the standard sweep's time includes it. naiveSeconds is extrapolated from naiveSampled timed conditions per row; naive = one full onnxruntime forward pass of the masked network over all 10,000 images per condition (float32); count differences are |lesion − naive| summed over classes on the sampled conditions (naive float32 may differ on near ties).",
};
mkdirSync(out, { recursive: true });
writeFileSync(`${out}ablation.json`, `${JSON.stringify(result, null, 2)}\n`);
const table = [
  `# Ablation benchmark: ${result.model} on ${result.data}`,
  "",
  `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run bench\`.`,
  "",
  `Standard sweep (singles of h0, h1, h2 + pairs of h2, ${standard.length} conditions, one ablate() call): **${standardSeconds.toFixed(3)} s**.`,
  "",
  "| site | conditions | lesion (s) | naive loop (s, extrapolated) | speed-up | naive GFLOP/s | effective GFLOP/s | count differences (sampled) |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.site} ${r.kind} | ${r.conditions} | ${r.seconds.toFixed(3)} | ${r.naiveSeconds.toFixed(1)} (${r.naiveSampled} timed) | ${r.speedup.toFixed(0)}× | ${r.naiveGflops.toFixed(0)} | ${r.effectiveGflops.toFixed(0)} | ${r.sampledCountDifferences} |`),
  "",
  `Peak RSS: ${result.peakRssMiB.toFixed(0)} MiB.`,
  "",
  result.note,
  "",
];
writeFileSync(`${out}ablation.md`, table.join("\n"));
console.log(`standard sweep: ${standardSeconds.toFixed(3)} s; peak RSS ${result.peakRssMiB.toFixed(0)} MiB → bench/results/ablation.{json,md}`);
