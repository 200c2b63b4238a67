// The transplant experiments of the README: `npm run build && node bench/transplant.mjs [mnist|fashion|deep|cnn|all]`.
// A donor (an MLP; `cnn`: cnn:small) trained on every class; a recipient of the same shape trained without one class (seed differs);
// transplant with 100 labelled training images, 30 of them of the held-out class, measured on the test split next to
// the three controls (5 repeats, 1000 bootstrap resamples). Writes bench/results/transplant.{json,md}.
import { mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../dist/data/loadDataset.js";
import { train } from "../dist/models/train.js";
import { openModel, closeModel } from "../dist/engine/model.js";
import { transplant } from "../dist/transplant/transplant.js";
import { seeded, shuffle } from "../dist/random.js";

const which = process.argv[2] ?? "all";
const out = fileURLToPath(new URL("./results/", import.meta.url));

function pick(data, indices, spec) {
  const per = data.images.length / data.n;
  const images = new Float32Array(indices.length * per);
  indices.forEach((s, r) => images.set(data.images.subarray(s * per, (s + 1) * per), r * per));
  return { ...data, spec, n: indices.length, images, labels: Int32Array.from(indices, (s) => data.labels[s]) };
}

/** 100 images: `heldCount` of class `held`, the rest spread evenly over the others, seeded. */
export function budgetOf(data, held, heldCount, total, seed) {
  const rand = seeded(seed);
  const byClass = Array.from({ length: data.numClasses }, () => []);
  data.labels.forEach((y, i) => byClass[y].push(i));
  const others = byClass.map((_, k) => k).filter((k) => k !== held);
  const picked = shuffle(byClass[held], rand).slice(0, heldCount);
  const rest = total - heldCount;
  others.forEach((k, j) => picked.push(...shuffle(byClass[k], rand).slice(0, Math.floor(rest / others.length) + (j < rest % others.length ? 1 : 0))));
  return pick(data, picked.sort((a, b) => a - b), `${data.spec} budget (${heldCount} of class ${held}, ${total} in all, seed ${seed})`);
}

async function experiment(name, trainData, testData, arch, held, site, epochs) {
  const started = performance.now();
  const without = pick(trainData, Array.from(trainData.labels.keys()).filter((i) => trainData.labels[i] !== held), `${trainData.spec} without class ${held}`);
  const donorRun = await train(trainData, { arch, epochs, seed: 0, test: testData });
  const recipientRun = await train(without, { arch, epochs, seed: 1, test: testData });
  const budget = budgetOf(trainData, held, 30, 100, 5);
  const donor = await openModel(donorRun.model, { name: `donor ${arch}` });
  const recipient = await openModel(recipientRun.model, { name: `recipient ${arch} without ${held}` });
  try {
    const result = await transplant(donor, recipient, budget, { test: testData, class: held, site, repeats: 5, seed: 0 });
    const { model: _m, ...rest } = result;
    console.log(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { name, arch, held, site, donorAccuracy: donorRun.history.at(-1).testAccuracy, ...rest };
  } finally {
    await closeModel(donor);
    await closeModel(recipient);
  }
}

const pct = (x) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}`);
const ci = (g) => (g === null ? "n/a" : `${g.estimate >= 0 ? "+" : ""}${pct(g.estimate)} [${pct(g.low)}, ${pct(g.high)}]`);
function table(r) {
  const lines = [
    `## ${r.name}: ${r.arch}, class ${r.held} held out, site ${r.population.site}`,
    "",
    `Donor ${pct(r.donorAccuracy)} % on the test set; recipient before: ${pct(r.before.accuracy)} % overall, ${pct(r.before.perClass[r.held])} % on class ${r.held}. ` +
      `Population: ${r.population.units.length} units of ${r.population.site} (${r.population.units.join(", ")}). Budget ${r.budget.samples} images (${r.budget.perClass[r.held]} of class ${r.held}), ${r.budget.epochs} epochs, ${r.budget.optimizer} lr ${r.budget.lr}, ${r.seeds.length} repeats.`,
    "",
    `| condition | class ${r.held} after | gain on class ${r.held} (pp, 95 % CI) | gain on other classes | gain overall |`,
    "| --- | --- | --- | --- | --- |",
    ...r.gains.map((g) => {
      const after = g.condition === "transplant" ? r.after : r.controls.find((c) => c.name === g.condition).after;
      return `| ${g.condition} | ${pct(after.perClass[r.held])} % | ${ci(g.target)} | ${ci(g.others)} | ${ci(g.overall)} |`;
    }),
    "",
    "Transplant minus control (paired):",
    "",
    `| control | class ${r.held} | other classes | overall |`,
    "| --- | --- | --- | --- |",
    ...r.versusControls.map((d) => `| ${d.control} | ${ci(d.target)} | ${ci(d.others)} | ${ci(d.overall)} |`),
    "",
    `Site units active on the budget images before → after training, over the ${r.seeds.length} repeats: ${["fresh-units", "finetune"].map((c) => {
      const rows = r.repeats.filter((x) => x.condition === c && x.siteActive);
      const sum = (key) => rows.reduce((a, x) => a + x.siteActive[key], 0);
      return `${c} ${sum("before")} → ${sum("after")} (of ${sum("units")})`;
    }).join("; ")}.`,
    "",
    `Ablating the transplanted units in the merged model: class ${r.held} ${pct(r.ablationCheck.after.perClass[r.held])} %, ${r.ablationCheck.removed === null ? "no gain to remove" : `${pct(r.ablationCheck.removed)} % of the gain removed`}, predictions identical to the recipient's: ${r.ablationCheck.samePredictionsAsBefore}.`,
    "",
  ];
  return lines.join("\n");
}

const results = existsSync(`${out}transplant.json`) ? JSON.parse(readFileSync(`${out}transplant.json`, "utf8")) : {};
if (which === "mnist" || which === "all") {
  const mnistTrain = await loadDataset("mnist:train");
  const mnistTest = await loadDataset("mnist:test");
  results.mnist = await experiment("MNIST", mnistTrain, mnistTest, "mlp:784-100-10", 3, undefined, 3);
}
if (which === "deep" || which === "all") {
  const mnistTrain = await loadDataset("mnist:train");
  const mnistTest = await loadDataset("mnist:test");
  results.deep = await experiment("MNIST, second hidden layer", mnistTrain, mnistTest, "mlp:784-100-100-10", 3, "fc2", 3);
}
if (which === "cnn" || which === "all") {
  // A CNN (cnn:small, one epoch each), at the default site: the last hidden layer, fc1, with both conv layers as its branch.
  const mnistTrain = await loadDataset("mnist:train");
  const mnistTest = await loadDataset("mnist:test");
  results.cnn = await experiment("MNIST, CNN", mnistTrain, mnistTest, "cnn:small", 3, undefined, 1);
}
if (which === "fashion" || which === "all") {
  // FASHION_DIR=folder of the four IDX files (e.g. ../shared/data/fashion-mnist) skips the download.
  const dir = process.env.FASHION_DIR;
  const fashionTrain = await loadDataset(dir ? `idx:${dir}/train-images-idx3-ubyte.gz,${dir}/train-labels-idx1-ubyte.gz` : "fashion-mnist:train");
  const fashionTest = await loadDataset(dir ? `idx:${dir}/t10k-images-idx3-ubyte.gz,${dir}/t10k-labels-idx1-ubyte.gz` : "fashion-mnist:test");
  results.fashion = await experiment("Fashion-MNIST", fashionTrain, fashionTest, "mlp:784-100-10", 7, undefined, 5);
}
mkdirSync(out, { recursive: true });
writeFileSync(`${out}transplant.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(`${out}transplant.md`, ["# Transplant experiments (`node bench/transplant.mjs`)", "", ...Object.values(results).map(table)].join("\n"));
console.log(Object.values(results).map(table).join("\n"));
