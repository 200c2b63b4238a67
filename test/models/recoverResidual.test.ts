/**
 * recover() of a residual network: the ResNet-18 fixture exported by torch.onnx (BatchNorm folded), held mode at a
 * block's inner ReLU. Checked against independent paths: the ablated accuracy equals `ablate` of the original model
 * (the sweep engine, not the training graphs); the retrained model keeps the held channels at exactly zero (`record`),
 * has the original's sites, and evaluates to the last epoch's accuracy; at a block's output (the sum of its branches)
 * too, held (free is refused by name). The training steps themselves are PyTorch's (test/onnx/trainGraph.test.ts, residual cases). The
 * CIFAR ResNets: kuangliu's (conv shortcuts), akamaster's ResNet-20 (option A) as exported and as imported.
 */
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { importModel } from "../../src/models/importModel.js";
import { classifierBytes } from "../../src/models/train.js";
import { networkOf } from "../../src/onnx/network.js";
import { recover } from "../../src/models/recover.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { subset } from "../helpers.js";

const fixture = (name: string) => new URL(`../fixtures/resnet/${name}`, import.meta.url).pathname;
const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

/** The ResNet-18 fixture imported with CIFAR-10's normalisation; the first `n` bundled images to train, the last 300 to test. */
async function resnet18(n: number) {
  const path = new URL("../fixtures/cnn/resnet18.onnx", import.meta.url).pathname;
  const model = await openModel((await importModel(path, CIFAR)).bytes, { name: "resnet18.onnx" });
  const data = await loadDataset("cifar10:test");
  const train = subset(data, Array.from({ length: n }, (_, i) => i), `cifar10:test[0:${n}]`);
  const test = subset(data, Array.from({ length: 300 }, (_, i) => 700 + i), "cifar10:test[700:1000]");
  return { model, train, test };
}

describe("recover on a ResNet", () => {
  it("recover(resnet18, {site: layer2.1.conv1, units: [0, 7]}): ablated = ablate's accuracy, the channels stay exactly 0 in the retrained model, which has the same sites and the last epoch's accuracy", { timeout: 120_000 }, async () => {
    const { model, train, test } = await resnet18(400);
    try {
      const units = [0, 7];
      const result = await recover(model, train, { site: "layer2.1.conv1", units, test, epochs: 2, lr: 0.001, batchSize: 50, threads: 1 });
      const swept = await ablate(model, test, { conditions: [condition(resolveSite(model, "layer2.1.conv1"), units)], loss: false });
      expect(result.intact.accuracy).toBe(swept.baseline.accuracy);
      expect(result.ablated.accuracy).toBeCloseTo(swept.conditions[0].accuracy, 12);
      expect(result.epochs).toHaveLength(2);
      const recovered = await openModel(result.retrained, { name: "recovered.onnx" });
      try {
        expect(recovered.sites.map((s) => s.name)).toEqual(model.sites.map((s) => s.name));
        // The original names no classes, nor does the retrained model (it had been named 0..9 and refused folder data).
        expect([model.classNames, recovered.classNames]).toEqual([null, null]);
        const recording = await record(recovered, test, { sites: ["layer2.1.conv1"] });
        const active = recording.sites[0].fractionActive;
        expect([active[0], active[7]]).toEqual([0, 0]);
        expect(active.filter((f) => f > 0).length).toBe(14);
        expect((await evaluate(recovered, test)).accuracy).toBeCloseTo(result.epochs[1].accuracy, 12);
      } finally {
        await closeModel(recovered);
      }
    } finally {
      await closeModel(model);
    }
  });

  // A block's output had been refused (no one layer's weights hold a unit of a sum at zero). Held there, the saved model
  // pins the channel of the join's input below zero (this export folds BatchNorm: its conv, weights 0 and bias −1e30).
  it("recover(resnet18, {site: layer2.1, a block's output}): held channels are exactly 0 in the retrained model, which evaluates to the last epoch's accuracy; free is refused in one line", { timeout: 120_000 }, async () => {
    const { model, train, test } = await resnet18(300);
    try {
      const units = [3, 9];
      const result = await recover(model, train, { site: "layer2.1", units, test, epochs: 1, lr: 0.001, batchSize: 50, threads: 1 });
      const swept = await ablate(model, test, { conditions: [condition(resolveSite(model, "layer2.1"), units)], loss: false });
      expect(result.ablated.accuracy).toBeCloseTo(swept.conditions[0].accuracy, 12);
      const recovered = await openModel(result.retrained, { name: "recovered.onnx" });
      try {
        expect(recovered.sites.map((s) => s.name)).toEqual(model.sites.map((s) => s.name));
        const site = (await record(recovered, test, { sites: ["layer2.1"] })).sites[0];
        expect(units.map((u) => [site.fractionActive[u], site.max[u]])).toEqual([[0, 0], [0, 0]]);
        expect(site.fractionActive.filter((f) => f > 0).length).toBe(site.units - units.length);
        expect((await evaluate(recovered, test)).accuracy).toBeCloseTo(result.epochs[0].accuracy, 12);
      } finally {
        await closeModel(recovered);
      }
      await expect(recover(model, train, { site: "layer2.1", units, test, epochs: 1, free: true })).rejects.toMatchObject({
        code: "bad-option",
        message: "site layer2.1 is a residual block's output: its units have no incoming weights of their own to learn again from fresh ones (`free`); hold them (without `free`), or recover a site inside the block (layer2.1.conv1, layer2.1.conv2)",
      });
    } finally {
      await closeModel(model);
    }
  });

  it("at SGD lr 0.01 the export of ResNet-20 (BatchNorm folded) collapses, as in PyTorch (13.6 % after one epoch on the same 1,000 images), and recover says so; its default is 0.001, which recovers", { timeout: 120_000 }, async () => {
    const data = await loadDataset("cifar10:test");
    const model = await openModel((await importModel(fixture("cifar_resnet20a.onnx"), CIFAR)).bytes, { name: "resnet20.onnx" });
    try {
      const result = await recover(model, data, { site: "layer1.0.conv1", units: [0, 7], test: data, epochs: 1, lr: 0.01, threads: 1 });
      expect(result.epochs[0].accuracy).toBeLessThan(result.ablated.accuracy - 0.05);
      expect(result.warnings.filter((w) => w.startsWith("retraining made the network worse"))).toEqual([
        `retraining made the network worse (the retrained network ends at ${(100 * result.epochs[0].accuracy).toFixed(2)} % against 43.90 % ablated): the steps are likely too large for it; give a smaller \`lr\` (0.01 now)`,
      ]);
      const byDefault = await recover(model, data, { site: "layer1.0.conv1", units: [0, 7], test: data, epochs: 1, threads: 1 });
      expect(byDefault.settings).toEqual({ optimizer: "sgd", lr: 0.001, momentum: 0.9, batchSize: 128, epochs: 1, seed: 0 });
      expect(byDefault.epochs[0].accuracy).toBeGreaterThan(byDefault.ablated.accuracy);
      expect(byDefault.warnings.filter((w) => w.startsWith("retraining made the network worse"))).toEqual([]);
    } finally {
      await closeModel(model);
    }
  });

  it("the imported kuangliu ResNet (conv shortcuts) trains too", async () => {
    const data = await loadDataset("cifar10:test");
    const train = subset(data, Array.from({ length: 64 }, (_, i) => i), "cifar10:test[0:64]");
    const shortcut = await openModel((await importModel(fixture("cifar_shortcut.pt"), { arch: "resnet", ...CIFAR })).bytes, { name: "shortcut.onnx" });
    try {
      const result = await recover(shortcut, train, { site: "layer3.0.conv1", units: [1], test: train, epochs: 1, lr: 0.001, batchSize: 32, threads: 1 });
      expect(result.epochs[0].accuracy).toBeGreaterThan(0);
      // A block's output held where the join reads a BatchNorm (this import keeps them): pinned by γ = 0, β = −1e30.
      const held = await recover(shortcut, train, { site: "layer3.0", units: [2, 5], test: train, epochs: 1, lr: 0.001, batchSize: 32, threads: 1 });
      const recovered = await openModel(held.retrained, { name: "recovered.onnx" });
      try {
        const site = (await record(recovered, train, { sites: ["layer3.0"] })).sites[0];
        expect([site.max[2], site.max[5]]).toEqual([0, 0]);
        expect((await evaluate(recovered, train)).accuracy).toBeCloseTo(held.epochs[0].accuracy, 12);
      } finally {
        await closeModel(recovered);
      }
    } finally {
      await closeModel(shortcut);
    }
  });

  it("akamaster's ResNet-20 as torch.onnx exports it (option A: two strided Slices and a Pad of computed pads; x.view(x.size(0), -1)) and as imported from its .pt: networkOf reads both, built back each predicts as before; recover holds a channel at 0", { timeout: 120_000 }, async () => {
    const data = await loadDataset("cifar10:test");
    const test = subset(data, Array.from({ length: 200 }, (_, i) => i), "cifar10:test[0:200]");
    const exported = await openModel((await importModel(fixture("cifar_resnet20a.onnx"), CIFAR)).bytes, { name: "resnet20.onnx" });
    const imported = await openModel((await importModel(fixture("cifar_resnet20a.pt"), { arch: "resnet", ...CIFAR })).bytes, { name: "resnet20-pt.onnx" });
    try {
      const predictions = async (model: LesionModel) => (await ablate(model, test, { conditions: [condition(resolveSite(model, "layer1.0"), [0])], loss: false })).predictions;
      const reference = await predictions(exported);
      expect(await predictions(imported)).toEqual(reference);
      for (const model of [exported, imported]) {
        const found = networkOf(model.proto, model.inputShape)!;
        expect(found.network.layers.filter((l) => l.op === "subsample" || l.op === "padchannels").map((l) => l.op)).toEqual(model === exported ? ["subsample", "subsample", "padchannels", "subsample", "subsample", "padchannels"] : ["subsample", "padchannels", "subsample", "padchannels"]);
        const rebuilt = await openModel(classifierBytes(found.network, found.values, model.preprocessing, model.classNames ?? data.classNames), { name: "rebuilt.onnx" });
        try {
          expect(await predictions(rebuilt)).toEqual(reference);
        } finally {
          await closeModel(rebuilt);
        }
      }
      const result = await recover(exported, test, { site: "layer2.0.conv1", units: [4], test, epochs: 1, lr: 0.001, batchSize: 50, threads: 1 });
      const recovered = await openModel(result.retrained, { name: "recovered.onnx" });
      try {
        expect((await record(recovered, test, { sites: ["layer2.0.conv1"] })).sites[0].fractionActive[4]).toBe(0);
      } finally {
        await closeModel(recovered);
      }
    } finally {
      await closeModel(exported);
      await closeModel(imported);
    }
  });
});
