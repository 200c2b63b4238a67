// Peak memory and time of whole studies (issue #14, bounded memory): `npm run build && node bench/study-memory.mjs`.
// Each study runs as a user runs it, `lesion study MODEL --data SPEC` in a fresh Node process with an empty study
// directory, through bench/study-memory-child.mjs, which reports the process's peak RSS (getrusage's ru_maxrss, the
// number `/usr/bin/time -v` prints as "Maximum resident set size") and wall time. Cases:
//   vgg      test/fixtures/cnn/vgg_bn.onnx (imported with the CIFAR-10 mean/std) on cifar10:test (1,000 images)
//   cnn      cnn:small trained by `lesion train --arch cnn:small --data mnist --epochs 1 --seed 0` on mnist:test
//            (10,000 images; the issue measured 5.6 GB for this study); the training is not timed
//   resnet18 test/fixtures/cnn/resnet18.onnx (widths 8-16-32-64) on cifar10:test
//   resnet18-full  only with RESNET18_FULL=path.onnx (made by bench/make_resnet18_full.py, 45 MB, not committed):
//            the full-width network, sites RESNET18_FULL_SITES (default layer4.1: every site takes hours on 2 cores)
// CASES=vgg,cnn picks cases (default vgg,cnn,resnet18, plus resnet18-full when RESNET18_FULL is set); STUDY_ARGS adds
// flags to every study (e.g. "--sites classifier.1" for a quick check of the bench itself). The target is a peak under
// 2 GiB. Writes bench/results/study-memory.{json,md}.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const LIMIT_MIB = 2048;
const BIN = fileURLToPath(new URL("../bin/lesion.js", import.meta.url));
const CHILD = fileURLToPath(new URL("./study-memory-child.mjs", import.meta.url));
const fixture = (name) => fileURLToPath(new URL(`../test/fixtures/cnn/${name}`, import.meta.url));
const out = fileURLToPath(new URL("./results/", import.meta.url));
const CIFAR = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"];
const work = mkdtempSync(join(tmpdir(), "lesion-study-memory-"));

function lesion(args) {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`lesion ${args.join(" ")} failed: ${run.stderr.trim()}`);
}

const cases = {
  vgg: () => {
    lesion(["import", fixture("vgg_bn.onnx"), ...CIFAR, "-o", join(work, "vgg.onnx")]);
    return { model: join(work, "vgg.onnx"), args: ["--data", "cifar10:test"], shown: "lesion study vgg.onnx --data cifar10:test" };
  },
  cnn: () => {
    lesion(["train", "--arch", "cnn:small", "--data", "mnist", "--epochs", "1", "--seed", "0", "-o", join(work, "cnn.onnx")]);
    return { model: join(work, "cnn.onnx"), args: ["--data", "mnist:test"], shown: "lesion study cnn.onnx --data mnist:test" };
  },
  resnet18: () => {
    lesion(["import", fixture("resnet18.onnx"), ...CIFAR, "-o", join(work, "resnet18.onnx")]);
    return { model: join(work, "resnet18.onnx"), args: ["--data", "cifar10:test"], shown: "lesion study resnet18.onnx --data cifar10:test" };
  },
  "resnet18-full": () => {
    lesion(["import", process.env.RESNET18_FULL, ...CIFAR, "-o", join(work, "resnet18-full.onnx")]);
    const sites = process.env.RESNET18_FULL_SITES ?? "layer4.1";
    return { model: join(work, "resnet18-full.onnx"), args: ["--data", "cifar10:test", "--sites", sites], shown: `lesion study resnet18-full.onnx --data cifar10:test --sites ${sites}` };
  },
};

const names = (process.env.CASES ?? ["vgg", "cnn", "resnet18", ...(process.env.RESNET18_FULL ? ["resnet18-full"] : [])].join(",")).split(",");
const rows = [];
for (const name of names) {
  if (!cases[name]) throw new Error(`unknown case ${name}; known: ${Object.keys(cases).join(", ")}`);
  const extra = (process.env.STUDY_ARGS ?? "").split(" ").filter(Boolean);
  const made = cases[name]();
  const { model } = made;
  const args = [...made.args, ...extra];
  const shown = [made.shown, ...extra].join(" ");
  const dir = join(work, `${name}-study`);
  const load = loadavg()[0];
  const run = spawnSync(process.execPath, [CHILD, "study", model, ...args, "-o", dir], { encoding: "utf8", env: { ...process.env, LESION_CACHE_DIR: join(work, "cache") } });
  const line = run.stderr.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (run.status !== 0 || !line) throw new Error(`${shown} failed (exit ${run.status}): ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const { maxRssKiB, seconds } = JSON.parse(line);
  const row = { case: name, command: shown, seconds, peakRssMiB: maxRssKiB / 1024, underLimit: maxRssKiB / 1024 < LIMIT_MIB, loadAverageAtStart: load, completed: existsSync(join(dir, "report.html")) };
  rows.push(row);
  console.log(`${name}: ${seconds.toFixed(1)} s, peak RSS ${row.peakRssMiB.toFixed(0)} MiB${row.underLimit ? "" : ` (over ${LIMIT_MIB} MiB)`}`);
  rmSync(dir, { recursive: true, force: true });
}
rmSync(work, { recursive: true, force: true });

const result = { machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, limitMiB: LIMIT_MIB, rows };
mkdirSync(out, { recursive: true });
writeFileSync(`${out}study-memory.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  `${out}study-memory.md`,
  [
    "# Whole studies: peak RSS and wall time",
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.cpu}), Node ${result.machine.node}. Command: \`npm run build && node bench/study-memory.mjs\`.`,
    `Each study in a fresh process with an empty study directory and stimulus-map cache; target: peak RSS under ${LIMIT_MIB} MiB.`,
    "",
    "| case | command | wall (s) | peak RSS (MiB) | under 2 GiB | load average at start |",
    "| --- | --- | ---: | ---: | --- | ---: |",
    ...rows.map((r) => `| ${r.case} | \`${r.command}\` | ${r.seconds.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${r.underLimit ? "yes" : "no"} | ${r.loadAverageAtStart.toFixed(1)} |`),
    "",
  ].join("\n"),
);
