/**
 * ablate() against the papers' definition: a plain forward pass of a copy whose ablated units have their incoming
 * weights and bias zeroed (mean ablation: weights zeroed, bias = the unit's mean pre-activation... which for a ReLU
 * unit whose mean output is m ≥ 0 is m). Predictions must be identical except on samples whose top two logits in
 * the copy are within float32 noise; such ties are counted and must be few.
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { forEachBatch } from "../../src/engine/forward.js";
import { closeModel, getSession, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { decodeModel, encodeModel, makeTensor, tensorDims, tensorValues } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { condition, fractions, groups, pairs, singles, type Condition } from "../../src/study/conditions.js";
import { unitScores } from "../../src/study/unitScores.js";
import { record } from "../../src/engine/record.js";
import { random, randomCnn, randomMlp } from "../helpers.js";

function randomData(n: number, shape: [number, number, number], classes: number, seed: number): Dataset {
  const rand = random(seed);
  const size = shape[0] * shape[1] * shape[2];
  return {
    spec: `random:${seed}`,
    n,
    shape,
    images: Float32Array.from({ length: n * size }, () => rand()),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * classes)),
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, i) => String(i)),
    source: "test",
  };
}

/** The model bytes with units of layer `layer` silenced through its parameters: weights 0, bias 0 (or `bias`). */
function zeroedCopy(bytes: Uint8Array, layer: string, units: number[], bias?: (unit: number) => number): Uint8Array {
  const model = decodeModel(bytes);
  const initializers = model.graph!.initializer!;
  for (const [i, t] of initializers.entries()) {
    if (t.name !== `${layer}.weight` && t.name !== `${layer}.bias`) continue;
    const dims = tensorDims(t);
    const values = Float32Array.from(tensorValues(t) as Float32Array);
    const per = values.length / dims[0];
    for (const u of units) values.fill(t.name.endsWith(".bias") && bias ? bias(u) : 0, u * per, (u + 1) * per);
    initializers[i] = makeTensor(t.name!, dims, values);
  }
  return encodeModel(model);
}

/** Predictions of a plain forward pass, and how many samples have a relative top-2 margin under 1e-5. */
async function plainPredictions(bytes: Uint8Array, data: Dataset): Promise<{ predictions: Int32Array; ties: Set<number> }> {
  const model = await openModel(bytes, { name: "copy" });
  try {
    const k = model.numClasses;
    const predictions = new Int32Array(data.n);
    const ties = new Set<number>();
    const session = await getSession(model, "plain", () => model.proto);
    await forEachBatch(model, session, data, {}, ({ start, count, values }) => {
      const logits = values[model.outputName];
      for (let r = 0; r < count; r++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (logits[r * k + c] > logits[r * k + best]) best = c;
        let second = -Infinity;
        for (let c = 0; c < k; c++) if (c !== best) second = Math.max(second, logits[r * k + c]);
        const top = logits[r * k + best];
        if ((top - second) / Math.max(Math.abs(top), Math.abs(second), 1e-30) < 1e-5) ties.add(start + r);
        predictions[start + r] = best;
      }
    });
    return { predictions, ties };
  } finally {
    await closeModel(model);
  }
}

async function expectMatchesZeroedCopies(bytes: Uint8Array, model: LesionModel, data: Dataset, conditions: Condition[], layerOf: (site: string) => string, bias?: Record<string, (u: number) => number>) {
  const result = await ablate(model, data, { conditions, confusion: true });
  let ties = 0;
  for (const [i, c] of conditions.entries()) {
    const copy = await plainPredictions(zeroedCopy(bytes, layerOf(c.site), c.units, bias?.[c.site]), data);
    const predictions = Int32Array.from(result.predictions);
    const change = result.changes[i];
    change.samples.forEach((s, j) => (predictions[s] = change.predictions[j]));
    for (let s = 0; s < data.n; s++) {
      if (predictions[s] === copy.predictions[s]) continue;
      expect(copy.ties.has(s), `${c.id}: sample ${s} differs (${predictions[s]} vs ${copy.predictions[s]}) without a near tie`).toBe(true);
      ties++;
    }
    const correct = predictions.reduce((sum, p, s) => sum + (p === data.labels[s] ? 1 : 0), 0);
    expect(result.conditions[i].accuracy).toBeCloseTo(correct / data.n, 12);
  }
  // Near ties are reported, not hidden: on random data they are rare.
  expect(ties).toBeLessThanOrEqual(2);
  return result;
}

describe("ablate", () => {
  it("ablate(mlp, d, {conditions: singles, pairs, groups at every layer}) equals forward passes of weight-zeroed copies", async () => {
    const bytes = randomMlp([20, 16, 12, 4], 3, [1, 4, 5]);
    const model = await openModel(bytes, { name: "mlp" });
    try {
      const data = randomData(400, [1, 4, 5], 4, 9);
      const fc1 = resolveSite(model, "fc1");
      const fc2 = resolveSite(model, "fc2");
      const conditions = [...singles(fc1), ...pairs(fc2), ...groups(fc1, { a: [0, 3, 5, 7, 9, 11], b: [1, 2] }), condition(fc2, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])];
      const result = await expectMatchesZeroedCopies(bytes, model, data, conditions, (s) => s);
      expect(result.engine).toEqual({ fc1: "dense", fc2: "dense" });
      // Dead units change nothing; every condition's per-class entries are fractions.
      for (const c of result.conditions) for (const p of c.perClass) expect(p === null || (p >= 0 && p <= 1)).toBe(true);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(cnn, d, {conditions: every channel and pairs of conv1, conv2; every logit of fc, the output}) equals forward passes of weight-zeroed copies", async () => {
    const bytes = randomCnn(4, 5);
    const model = await openModel(bytes, { name: "cnn" });
    try {
      const data = randomData(300, [1, 8, 8], 5, 11);
      // fc is the logits themselves: zeroing one is the masked suffix of its mask alone.
      const fc = resolveSite(model, "fc");
      const conditions = [...singles(resolveSite(model, "conv1")), ...pairs(resolveSite(model, "conv2")), ...singles(fc), condition(fc, [0, 2])];
      const result = await expectMatchesZeroedCopies(bytes, model, data, conditions, (s) => s);
      expect(result.engine).toEqual({ conv1: "delta", conv2: "delta", fc: "masked" });
      expect(result.conditions.filter((c) => c.site === "fc").some((c) => c.delta !== 0)).toBe(true);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(mlp, d, {mode: 'mean'}) equals copies whose unit is a constant equal to its data mean", async () => {
    const bytes = randomMlp([20, 10, 8, 3], 7, [1, 4, 5]);
    const model = await openModel(bytes, { name: "mlp" });
    try {
      const data = randomData(300, [1, 4, 5], 3, 13);
      const means = (await record(model, data, { sites: ["fc1"] })).sites[0].mean;
      const conditions = [...singles(resolveSite(model, "fc1"), "mean"), condition(resolveSite(model, "fc1"), [1, 4, 6], "mean")];
      // A ReLU unit with weights 0 and bias m ≥ 0 outputs m.
      await expectMatchesZeroedCopies(bytes, model, data, conditions, (s) => s, { fc1: (u) => means[u] });
      // The result states those values: the ones the copies above equal.
      expect((await ablate(model, data, { conditions: conditions.slice(0, 2) })).means).toEqual({ fc1: means });
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(mlp, d, {conditions: pairs}) reports redundancy as samples lost only jointly", async () => {
    const bytes = randomMlp([20, 8, 3], 21, [1, 4, 5]);
    const model = await openModel(bytes, { name: "mlp" });
    try {
      const data = randomData(500, [1, 4, 5], 3, 17);
      const site = resolveSite(model, "fc1");
      const result = await ablate(model, data, { conditions: [...singles(site), ...pairs(site)] });
      const lostBy = (i: number) => {
        const set = new Set<number>();
        result.changes[i].samples.forEach((s) => result.predictions[s] === data.labels[s] && set.add(s));
        return set;
      };
      const index = new Map(result.conditions.map((c, i) => [c.id, i]));
      for (const [i, c] of result.conditions.entries()) {
        if (c.units.length !== 2) {
          expect(c.redundancy).toBeNull();
          continue;
        }
        const alone = new Set([...lostBy(index.get(`fc1/zero/${c.units[0]}`)!), ...lostBy(index.get(`fc1/zero/${c.units[1]}`)!)]);
        const joint = [0, 0, 0];
        for (const s of lostBy(i)) if (!alone.has(s)) joint[data.labels[s]]++;
        const intactCorrect = [0, 0, 0];
        result.predictions.forEach((p, s) => p === data.labels[s] && intactCorrect[p]++);
        joint.forEach((j, cls) => (intactCorrect[cls] === 0 ? expect(c.redundancy!.perClass[cls]).toBeNull() : expect(c.redundancy!.perClass[cls]).toBeCloseTo(j / intactCorrect[cls], 12)));
        const counts = result.classCounts;
        expect(c.redundancy!.overall).toBeCloseTo(joint.reduce((sum, j, cls) => sum + (intactCorrect[cls] === 0 ? 0 : (j / intactCorrect[cls]) * (counts[cls] / data.n)), 0), 12);
      }
    } finally {
      await closeModel(model);
    }
  });

  // A trial's groups file {"7": [7], "8": [8], "7+8": [7, 8]}, as the README suggests for pairs of one's choice, gave
  // `fc1/zero/7+8@7+8` with no redundancy, which no `--units 7,8` or pairs run could be joined to.
  it("groups named by their own units are the plain conditions: the ids and redundancy of singles and pairs; other names stay labels", async () => {
    const model = await openModel(randomMlp([20, 8, 3], 21, [1, 4, 5]), { name: "mlp" });
    try {
      const data = randomData(500, [1, 4, 5], 3, 17);
      const site = resolveSite(model, "fc1");
      const named = await ablate(model, data, { conditions: groups(site, { "7": [7], "3": [3], "3+7": [7, 3], "7+3": [3, 7], both: [3, 7] }) });
      // Integer-like keys come first, ascending, in any JavaScript object (and a parsed groups file).
      const plain = await ablate(model, data, { conditions: [condition(site, [3]), condition(site, [7]), condition(site, [3, 7])] });
      expect(named.conditions.map((c) => c.id)).toEqual(["fc1/zero/3", "fc1/zero/7", "fc1/zero/3+7", "fc1/zero/3+7@7+3", "fc1/zero/3+7@both"]);
      expect(named.conditions.slice(0, 3)).toEqual(plain.conditions);
      expect(named.conditions[2].redundancy).not.toBeNull();
      for (const c of named.conditions.slice(3)) expect(c.redundancy).toBeNull();
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(mlp, d, {conditions: fractions}) is cumulative, and the whole layer ablated leaves only the output bias", async () => {
    const bytes = randomMlp([20, 12, 4], 31, [1, 4, 5]);
    const model = await openModel(bytes, { name: "mlp" });
    try {
      const data = randomData(400, [1, 4, 5], 4, 23);
      const site = resolveSite(model, "fc1");
      const conditions = fractions(site, { fractions: [0.25, 0.5, 1], repeats: 2, seed: 7 });
      expect(conditions.map((c) => [c.units.length, c.label])).toEqual([[3, "0.25 random #1"], [6, "0.5 random #1"], [12, "1 random #1"], [3, "0.25 random #2"], [6, "0.5 random #2"], [12, "1 random #2"]]);
      for (const r of [0, 3]) for (const u of conditions[r].units) expect(conditions[r + 1].units).toContain(u);
      expect(conditions[0].units).not.toEqual(conditions[3].units);
      // Each step as numbers: its fraction, order and repeat, and its units in the order they were added, each step's
      // sequence a prefix of the next one's.
      expect(conditions.map((c) => [c.cumulative!.fraction, c.cumulative!.order, c.cumulative!.repeat])).toEqual([[0.25, "random", 1], [0.5, "random", 1], [1, "random", 1], [0.25, "random", 2], [0.5, "random", 2], [1, "random", 2]]);
      for (const c of conditions) expect([...c.cumulative!.sequence].sort((a, b) => a - b)).toEqual(c.units);
      for (const r of [0, 1, 3, 4]) expect(conditions[r + 1].cumulative!.sequence.slice(0, conditions[r].units.length)).toEqual(conditions[r].cumulative!.sequence);
      const result = await ablate(model, data, { conditions });
      // fc1 entirely silenced: the logits are fc2's bias for every sample, so one class is predicted everywhere.
      const bias = Array.from(tensorValues(decodeModel(bytes).graph!.initializer!.find((t) => t.name === "fc2.bias")!) as Float32Array);
      const predicted = bias.indexOf(Math.max(...bias));
      const expected = data.labels.filter((l) => l === predicted).length / data.n;
      expect(result.conditions[2].accuracy).toBeCloseTo(expected, 12);
      expect(result.conditions[5].accuracy).toBeCloseTo(expected, 12);
    } finally {
      await closeModel(model);
    }
  });

  it("unitScores(selectivity) equals Morcos et al.'s class selectivity of a float64 forward pass, fractions(order 'selectivity') ablates its top units first, and unitScores(impact) equals the accuracy lost by weight-zeroed copies", async () => {
    const bytes = randomMlp([20, 10, 3], 41, [1, 4, 5]);
    const model = await openModel(bytes, { name: "mlp" });
    try {
      const data = randomData(300, [1, 4, 5], 3, 29);
      const site = resolveSite(model, "fc1");
      // fc1's ReLU outputs in float64 from the stored weights, on the inputs the model's metadata makes: (x − 0.5) / 0.5.
      const proto = decodeModel(bytes);
      const tensor = (name: string) => Array.from(tensorValues(proto.graph!.initializer!.find((t) => t.name === name)!) as Float32Array);
      const [w, b] = [tensor("fc1.weight"), tensor("fc1.bias")];
      const sums = Array.from({ length: 3 }, () => new Array<number>(10).fill(0));
      const active = new Array<number>(10).fill(0);
      const perClass = [0, 0, 0];
      for (let s = 0; s < data.n; s++) {
        perClass[data.labels[s]]++;
        for (let u = 0; u < 10; u++) {
          let h = b[u];
          for (let i = 0; i < 20; i++) h += w[u * 20 + i] * ((data.images[s * 20 + i] - 0.5) / 0.5);
          sums[data.labels[s]][u] += Math.max(0, h);
          if (h > 0) active[u]++;
        }
      }
      // Selectivity (Morcos et al. 2018): (max − mean of the other classes) / (max + mean of the others) of the class
      // means; undefined (null) for a unit active on fewer than max(10, 0.1 % of n) samples.
      const expected = Array.from({ length: 10 }, (_, u) => {
        if (active[u] < 10) return null;
        const means = sums.map((row, c) => row[u] / perClass[c]);
        const max = Math.max(...means);
        const rest = (means.reduce((x, y) => x + y, 0) - max) / 2;
        return max + rest === 0 ? 0 : (max - rest) / (max + rest);
      });
      const scores = await unitScores(model, data, "fc1", { score: "selectivity" });
      expect(scores.map((v) => v === null)).toEqual(expected.map((v) => v === null));
      scores.forEach((v, u) => v !== null && expect(v).toBeCloseTo(expected[u]!, 5));
      const [first] = fractions(site, { fractions: [0.3], order: "selectivity", ranking: scores });
      const top = [...expected.keys()].sort((x, y) => (expected[y] ?? -Infinity) - (expected[x] ?? -Infinity) || x - y).slice(0, 3).sort((x, y) => x - y);
      expect(first.units).toEqual(top);
      // Impact: intact accuracy minus the accuracy of a copy with the unit's incoming weights and bias zeroed.
      const impact = await unitScores(model, data, "fc1", { score: "impact" });
      const accuracy = (p: Int32Array) => p.reduce((sum, c, s) => sum + (c === data.labels[s] ? 1 : 0), 0) / data.n;
      const intact = await plainPredictions(bytes, data);
      for (let u = 0; u < 10; u++) {
        const copy = await plainPredictions(zeroedCopy(bytes, "fc1", [u]), data);
        // A sample at a float32 near tie may go either way: each one is worth 1/n.
        expect(Math.abs(impact[u]! - (accuracy(intact.predictions) - accuracy(copy.predictions)))).toBeLessThanOrEqual((intact.ties.size + copy.ties.size) / data.n + 1e-12);
      }
    } finally {
      await closeModel(model);
    }
  });
});
