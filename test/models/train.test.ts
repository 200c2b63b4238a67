/**
 * Training with lesion's engine on MNIST: the accuracies the issue asks for, bit-for-bit repeatability for a seed,
 * resuming from a saved epoch state, and recovery with held units.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { LesionError } from "../../src/errors.js";
import { ablate } from "../../src/study/ablate.js";
import { singles } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { record } from "../../src/engine/record.js";
import { recover } from "../../src/models/recover.js";
import { train, type TrainResult } from "../../src/models/train.js";
import type { Progress } from "../../src/progress.js";

let trainSet: Dataset;
let testSet: Dataset;
let mlp: TrainResult;

beforeAll(async () => {
  trainSet = await loadDataset("mnist:train");
  testSet = await loadDataset("mnist:test");
  mlp = await train(trainSet, { arch: "mlp:784-100-100-100-10", test: testSet, epochs: 10, seed: 1 });
});

async function errorCode(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    return error instanceof LesionError ? error.code : `not a LesionError: ${error}`;
  }
  return "no error";
}

describe("train", () => {
  it("train(mnist:train, {arch: 'mlp:784-100-100-100-10', epochs: 10, seed: 1}) reaches ≥ 97.5% test accuracy; the saved model agrees", async () => {
    const last = mlp.history[mlp.history.length - 1];
    expect(mlp.history.map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(last.testAccuracy).toBeGreaterThanOrEqual(0.975);
    const model = await openModel(mlp.model, { name: "mlp" });
    const initial = await openModel(mlp.initial, { name: "initial" });
    try {
      expect(model.sites.map((s) => s.name)).toEqual(["fc1", "fc2", "fc3", "fc4"]);
      const evaluated = await evaluate(model, testSet);
      expect(evaluated.accuracy).toBe(last.testAccuracy);
      // The history's test loss is the saved model's, as evaluate measures it (checked against PyTorch elsewhere).
      expect(last.testLoss).toBeCloseTo(evaluated.loss, 6);
      expect((await evaluate(initial, testSet)).accuracy).toBeLessThan(0.3);
    } finally {
      await closeModel(model);
      await closeModel(initial);
    }
  });

  it("train(cnn:small, {optimizer: 'adam', epochs: 3}) reaches ≥ 98.5% test accuracy", async () => {
    const cnn = await train(trainSet, { arch: "cnn:small", optimizer: "adam", test: testSet, epochs: 3, seed: 1 });
    expect(cnn.history[2].testAccuracy).toBeGreaterThanOrEqual(0.985);
  }, 600_000);

  it("train with the same seed gives the same weights bit for bit; another seed does not", async () => {
    const subset = await loadDataset("mnist:train", { limit: 3000 });
    const options = { arch: "mlp:784-64-10", epochs: 2, seed: 5 };
    const [a, b, c] = [await train(subset, options), await train(subset, options), await train(subset, { ...options, seed: 6 })];
    expect(Buffer.from(a.model).equals(Buffer.from(b.model))).toBe(true);
    expect(Buffer.from(a.model).equals(Buffer.from(c.model))).toBe(false);
  });

  it("train({excludeClasses: [3, 7]}) trains on the other classes' samples alone: the same model bit for bit as training on a data set built without them; the network keeps all ten outputs; a class out of range is bad-option", async () => {
    const subset = await loadDataset("mnist:train", { limit: 2000 });
    const kept = Array.from(subset.labels.keys()).filter((s) => subset.labels[s] !== 3 && subset.labels[s] !== 7);
    const per = subset.images.length / subset.n;
    const images = new Float32Array(kept.length * per);
    kept.forEach((s, r) => images.set(subset.images.subarray(s * per, (s + 1) * per), r * per));
    const by = { ...subset, n: kept.length, images, labels: Int32Array.from(kept, (s) => subset.labels[s]) };
    const options = { arch: "mlp:784-16-10", epochs: 1, seed: 2 };
    const [excluded, reference] = [await train(subset, { ...options, excludeClasses: [7, 3] }), await train(by, options)];
    expect(Buffer.from(excluded.model).equals(Buffer.from(reference.model))).toBe(true);
    expect(kept.length).toBeLessThan(subset.n - 300);
    expect(excluded.data).toBe("mnist:train without classes 3, 7");
    const model = await openModel(excluded.model, { name: "excluded" });
    try {
      expect(model.numClasses).toBe(10);
    } finally {
      await closeModel(model);
    }
    expect(await errorCode(() => train(subset, { ...options, excludeClasses: [10] }))).toBe("bad-option");
    // Mean and std as import checks them (helper trial 'newuser14' saved a 1-channel model with 3 means and 2 stds).
    await expect(train(subset, { ...options, mean: [0.1, 0.2, 0.3], std: [0.1, 0.2] })).rejects.toMatchObject({ code: "bad-option", message: "`mean` has 3 values and `std` 2; give one value or one per channel for each" });
    await expect(train(subset, { ...options, mean: [0.1, 0.2, 0.3], std: [0.1, 0.2, 0.3] })).rejects.toMatchObject({ code: "bad-option", message: expect.stringMatching(/`mean` has 3 values but the model's images have 1 channel/) });
  });

  it("train with an epoch state, stopped after an epoch and run again, ends with the same model as an uninterrupted run", async () => {
    const subset = await loadDataset("mnist:train", { limit: 2000 });
    const epochState = join(mkdtempSync(join(tmpdir(), "lesion-train-")), "run.epoch-state.json");
    const options = { arch: "mlp:784-32-10", epochs: 3, seed: 2, optimizer: "adam" as const };
    const controller = new AbortController();
    expect(await errorCode(() => train(subset, { ...options, epochState, signal: controller.signal, onEpoch: (e) => e.epoch === 2 && controller.abort() }))).toBe("aborted");
    expect(existsSync(epochState)).toBe(true);
    const resumed = await train(subset, { ...options, epochState });
    const whole = await train(subset, options);
    expect(resumed.history.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(Buffer.from(resumed.model).equals(Buffer.from(whole.model))).toBe(true);
    expect(existsSync(epochState)).toBe(false);
    // A state of the same run under another normalisation, test set or a smaller epoch count is refused, naming what
    // differs (a trial's resumed runs mixed two trainings: epoch 1 on (x − 0.5)/0.5, the rest on (x − 0.1)/0.5).
    const events: Progress[] = [];
    const stop = new AbortController();
    expect(await errorCode(() => train(subset, { ...options, epochs: 4, epochState, signal: stop.signal, onEpoch: (e) => e.epoch === 2 && stop.abort() }))).toBe("aborted");
    await expect(train(subset, { ...options, epochs: 4, epochState, mean: [0.1] })).rejects.toMatchObject({ code: "resume-mismatch", message: `${epochState} belongs to a different training run (mean [0.5] there, [0.1] now); remove it or choose another path` });
    await expect(train(subset, { ...options, epochs: 4, epochState, std: [0.3], lr: 0.01 })).rejects.toMatchObject({ code: "resume-mismatch", message: `${epochState} belongs to a different training run (std [0.5] there, [0.3] now; lr 0.001 there, 0.01 now); remove it or choose another path` });
    const test = await loadDataset("mnist:test", { limit: 100 });
    await expect(train(subset, { ...options, epochs: 4, epochState, test })).rejects.toMatchObject({ code: "resume-mismatch", message: expect.stringMatching(/belongs to a different training run \(test none there, mnist:test\S* \([0-9a-f]{12}…\) now\)/) });
    await expect(train(subset, { ...options, epochs: 1, epochState })).rejects.toMatchObject({ code: "resume-mismatch", message: `${epochState} holds 2 epochs of this training run, more than the 1 asked for; ask for at least 2, or remove it to start over` });
    const four = await train(subset, { ...options, epochs: 4, epochState, onProgress: (e) => e.phase === "resume" && events.push(e) });
    expect(events).toEqual([{ phase: "resume", done: 2, total: 4, detail: epochState }]);
    expect(Buffer.from(four.model).equals(Buffer.from((await train(subset, { ...options, epochs: 4 })).model))).toBe(true);
    expect(await errorCode(() => train(subset, { ...options, arch: "mlp:784-10" }))).toBe("no error");
    expect(await errorCode(() => train(subset, { ...options, arch: "mlp:100-10" }))).toBe("bad-arch");
    expect(await errorCode(() => train(subset, { ...options, arch: "resnet" }))).toBe("bad-arch");
  });
});

describe("recover", () => {
  it("recover(mlp, mnist, {site: 'fc1', units: the three most damaging}) reports per-class recovery; held units stay exactly zero", async () => {
    const model = await openModel(mlp.model, { name: "mlp" });
    try {
      const site = resolveSite(model, "fc1");
      const singlesResult = await ablate(model, testSet, { conditions: singles(site), loss: false });
      const worst = singlesResult.conditions.map((c, u) => [c.delta, u]).sort((a, b) => a[0] - b[0]).slice(0, 3).map(([, u]) => u);
      const result = await recover(model, trainSet, { site: "fc1", units: worst, test: testSet, epochs: 3 });
      expect(result.mode).toBe("held");
      expect(result.intact.accuracy).toBe(singlesResult.baseline.accuracy);
      expect(result.ablated.accuracy).toBeLessThan(result.intact.accuracy);
      expect(result.epochs).toHaveLength(3);
      const last = result.epochs[2];
      expect(last.accuracy).toBeGreaterThan(result.ablated.accuracy);
      expect(last.recovered).toBeCloseTo((last.accuracy - result.ablated.accuracy) / (result.intact.accuracy - result.ablated.accuracy), 12);
      expect(last.recoveredPerClass).toHaveLength(10);
      const recovered = await openModel(result.retrained, { name: "recovered" });
      try {
        const activity = await record(recovered, testSet, { sites: ["fc1"] });
        for (const u of worst) expect(activity.sites[0].max[u]).toBe(0);
      } finally {
        await closeModel(recovered);
      }
      const free = await recover(model, trainSet, { site: "fc1", units: worst, test: testSet, epochs: 1, free: true });
      expect(free.mode).toBe("free");
      expect(await errorCode(() => recover(model, trainSet, { site: "fc1", units: [100], test: testSet }))).toBe("unit-out-of-range");
    } finally {
      await closeModel(model);
    }
  }, 600_000);
});
