// Times deltaIntervals (the exact bootstrap CI of every condition's accuracy change) on the ablation steps of a study
// directory: node bench/delta-intervals.mjs STUDY_DIR [DATA_SPEC]. Needs `npm run build` first.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadDataset } from "../dist/data/loadDataset.js";
import { parseNpy } from "../dist/data/npy.js";
import { deltaIntervals } from "../dist/study/deltaIntervals.js";

const [dir, spec = "mnist:test"] = process.argv.slice(2);
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
