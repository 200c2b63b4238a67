// Times deltaIntervals (the exact bootstrap CI of every condition's accuracy change). Needs `npm run build` first.
//
// node bench/delta-intervals.mjs --keys [FILE] [--runs R]
//   The standard sweep's conditions, cold: each run times one deltaIntervals call in a fresh Node process (the first
//   call, as `lesion ablate` makes it), for the current implementation (dist/) and the previous exact pmf sum
//   (test/study/deltaIntervalsReference.ts, transpiled to a temporary file), alternated, R runs each (default 5);
//   then five more calls in the same process, of which the median is the run's warm time. FILE: [lost, gained] per
//   condition, n = 10,000 (default test/fixtures/deltaIntervals/standard-sweep-lost-gained.json, the 5,250 conditions
//   of singles of h0, h1, h2 and pairs of h2 of meyes2019-mlp100x3 on mnist:test). The intervals of every process
//   must be the same (a SHA-256 of them), old and new. Writes bench/results/delta-intervals.{json,md}.
// node bench/delta-intervals.mjs STUDY_DIR [DATA_SPEC]
//   The ablation steps of a study directory, in process.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) && args[args.indexOf(name) + 1] && !args[args.indexOf(name) + 1].startsWith("--") ? args[args.indexOf(name) + 1] : fallback);
const DEFAULT_KEYS = fileURLToPath(new URL("../test/fixtures/deltaIntervals/standard-sweep-lost-gained.json", import.meta.url));

if (args[0] === "--child") await child(args[1], args[2], args[3]);
else if (args.includes("--keys")) keysBench(flag("--keys", DEFAULT_KEYS), Number(flag("--runs", "5")));
else await studyBench(args[0], args[1] ?? "mnist:test");

/** One fresh process: build the result for the keys, time the first deltaIntervals call and five more, print JSON. */
async function child(kind, keysFile, module) {
  const { deltaIntervals } = await import(module);
  const keys = JSON.parse(readFileSync(keysFile, "utf8"));
  const n = 10_000;
  // Images of class 0: the first n − gainable right intact, the rest wrong; a condition loses its first `lost`
  // images and gains its first `gained` wrong ones.
  const gainable = Math.max(...keys.map(([, g]) => g));
  const labels = new Int32Array(n);
  const predictions = Int32Array.from({ length: n }, (_, i) => (i < n - gainable ? 0 : 1));
  const changes = keys.map(([lost, gained]) => {
    const samples = new Int32Array(lost + gained);
    for (let i = 0; i < lost; i++) samples[i] = i;
    for (let i = 0; i < gained; i++) samples[lost + i] = n - gainable + i;
    return { samples, predictions: Int32Array.from(samples, (_, j) => (j < lost ? 1 : 0)) };
  });
  const result = { predictions, changes };
  const cpu = process.cpuUsage();
  let started = performance.now();
  const cold = deltaIntervals(result, labels);
  const coldMs = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  const coldCpuMs = (user + system) / 1000;
  const later = [];
  for (let call = 0; call < 5; call++) {
    started = performance.now();
    deltaIntervals(result, labels);
    later.push(performance.now() - started);
  }
  const warmMs = later.sort((a, b) => a - b)[2];
  const digest = createHash("sha256").update(Buffer.from(new Float64Array(cold.intervals.flat()).buffer)).digest("hex");
  console.log(JSON.stringify({ kind, coldMs, coldCpuMs, warmMs, digest }));
}

function keysBench(keysFile, runs) {
  const keys = JSON.parse(readFileSync(keysFile, "utf8"));
  const distinct = new Set(keys.map(([l, g]) => `${l},${g}`)).size;
  const self = fileURLToPath(import.meta.url);
  const current = pathToFileURL(fileURLToPath(new URL("../dist/study/deltaIntervals.js", import.meta.url))).href;
  if (!existsSync(new URL(current))) throw new Error("dist/study/deltaIntervals.js is missing: run `npm run build` first");
  const work = mkdtempSync(join(tmpdir(), "lesion-delta-intervals-"));
  try {
    const previous = transpileReference(work);
    const times = { new: [], old: [] };
    const digests = new Set();
    for (let r = 0; r < runs; r++) {
      for (const [kind, module] of [["new", current], ["old", previous]]) {
        const run = spawnSync(process.execPath, [self, "--child", kind, keysFile, module], { encoding: "utf8" });
        if (run.status !== 0) throw new Error(`the ${kind} child failed: ${run.stderr.trim()}`);
        const row = JSON.parse(run.stdout);
        times[kind].push(row);
        digests.add(row.digest);
      }
    }
    if (digests.size !== 1) throw new Error(`the two implementations gave different intervals (${digests.size} digests)`);
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const summary = (kind) => ({
      coldMs: times[kind].map((t) => +t.coldMs.toFixed(1)),
      warmMs: times[kind].map((t) => +t.warmMs.toFixed(1)),
      coldMedianMs: +median(times[kind].map((t) => t.coldMs)).toFixed(1),
      coldCpuMedianMs: +median(times[kind].map((t) => t.coldCpuMs)).toFixed(1),
      warmMedianMs: +median(times[kind].map((t) => t.warmMs)).toFixed(1),
    });
    const result = {
      command: `node bench/delta-intervals.mjs --keys${keysFile === DEFAULT_KEYS ? "" : ` ${keysFile}`} --runs ${runs}`,
      conditions: keys.length,
      distinctKeys: distinct,
      n: 10_000,
      runs,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((l) => +l.toFixed(2)), node: process.version },
      new: summary("new"),
      old: summary("old"),
      sameIntervals: true,
    };
    result.speedupCold = +(result.old.coldMedianMs / result.new.coldMedianMs).toFixed(1);
    result.speedupWarm = +(result.old.warmMedianMs / result.new.warmMedianMs).toFixed(1);
    const out = fileURLToPath(new URL("./results/", import.meta.url));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "delta-intervals.json"), JSON.stringify(result, null, 1) + "\n");
    const md = [
      `# deltaIntervals: the standard sweep's ${keys.length.toLocaleString("en")} conditions (${distinct.toLocaleString("en")} distinct keys, n = 10,000)`,
      "",
      `\`${result.command}\`: one call in a fresh Node process per run (cold), then five more calls (warm: their median); medians of ${runs} runs, alternated.`,
      `Machine: ${result.machine.cpus} CPUs (${result.machine.model}), load ${result.machine.loadavg.join(" ")}, Node ${result.machine.node}. Both gave the same intervals.`,
      "",
      "| implementation | cold (ms, median) | cold runs (ms) | cold CPU of the process (ms, median) | warm (ms, median) |",
      "| --- | --- | --- | --- | --- |",
      ...["new", "old"].map((kind) => `| ${kind === "new" ? "CDF walk (src/study/deltaIntervals.ts)" : "previous pmf sum (test/study/deltaIntervalsReference.ts)"} | ${result[kind].coldMedianMs} | ${result[kind].coldMs.join(", ")} | ${result[kind].coldCpuMedianMs} | ${result[kind].warmMedianMs} |`),
      "",
      `Speed-up: ${result.speedupCold}× cold, ${result.speedupWarm}× warm.`,
      "",
    ].join("\n");
    writeFileSync(join(out, "delta-intervals.md"), md);
    console.log(md);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The previous implementation as a module: its TypeScript transpiled, its one runtime import pointed at dist/. */
function transpileReference(work) {
  const ts = spawnSync(process.execPath, ["--input-type=module", "-e", "const ts = (await import('typescript')).default; process.stdout.write(ts.transpileModule(process.argv[1], { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText)", readFileSync(new URL("../test/study/deltaIntervalsReference.ts", import.meta.url), "utf8")], { encoding: "utf8", cwd: fileURLToPath(new URL("..", import.meta.url)) });
  if (ts.status !== 0) throw new Error(`transpiling the reference failed: ${ts.stderr.trim()}`);
  const errors = pathToFileURL(fileURLToPath(new URL("../dist/errors.js", import.meta.url))).href;
  const file = join(work, "deltaIntervalsReference.mjs");
  writeFileSync(file, ts.stdout.replace(/from "\.\.\/\.\.\/src\/errors\.js"/, `from ${JSON.stringify(errors)}`));
  return pathToFileURL(file).href;
}

async function studyBench(dir, spec) {
  const { loadDataset } = await import("../dist/data/loadDataset.js");
  const { parseNpy } = await import("../dist/data/npy.js");
  const { deltaIntervals } = await import("../dist/study/deltaIntervals.js");
  const data = await loadDataset(spec);
  for (const step of ["singles", ...["fc1", "fc2", "fc3", "h0", "h1", "h2"].map((s) => `pairs-${s}`)]) {
    const at = join(dir, step);
    if (!existsSync(join(at, "summary.json"))) continue;
    const int32 = (file) => new Int32Array(new Uint8Array(parseNpy(readFileSync(join(at, file)), file).data).buffer);
    const predictions = int32("predictions.npy");
    const rows = int32("changes.npy");
    const summary = JSON.parse(readFileSync(join(at, "summary.json"), "utf8"));
    const changes = summary.conditions.map(() => ({ samples: [], predictions: [] }));
    for (let r = 0; r < rows.length / 3; r++) (changes[rows[3 * r]].samples.push(rows[3 * r + 1]), changes[rows[3 * r]].predictions.push(rows[3 * r + 2]));
    const input = { predictions, changes: changes.map((c) => ({ samples: Int32Array.from(c.samples), predictions: Int32Array.from(c.predictions) })) };
    const started = performance.now();
    deltaIntervals(input, data.labels);
    console.log(`${step}: ${summary.conditions.length} conditions, ${rows.length / 3} changed predictions, ${((performance.now() - started) / 1000).toFixed(2)} s`);
  }
}
