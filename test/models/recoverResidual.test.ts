/**
 * recover() of a residual network: the ResNet-18 fixture exported by torch.onnx (BatchNorm folded), held mode at a
 * block's inner ReLU. Checked against independent paths: the ablated accuracy equals `ablate` of the original model
 * (the sweep engine, not the training graphs); the retrained model keeps the held channels at exactly zero (`record`),
 * has the original's sites, and evaluates to the last epoch's accuracy; a block's output (the sum of its branches) is
 * refused by name. The training steps themselves are PyTorch's (test/onnx/trainGraph.test.ts, residual case).
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { importModel } from "../../src/models/importModel.js";
import { recover } from "../../src/models/recover.js";
import { study } from "../../src/runs/study.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { subset } from "../helpers.js";

const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

describe("recover on a ResNet", () => {
  it("recover(resnet18, {site: layer2.1.conv1, units: [0, 7]}): ablated = ablate's accuracy, the channels stay exactly 0 in the retrained model, which has the same sites and the last epoch's accuracy", { timeout: 120_000 }, async () => {
    const path = new URL("../fixtures/cnn/resnet18.onnx", import.meta.url).pathname;
    const imported = await importModel(path, CIFAR);
    const model = await openModel(imported.bytes, { name: "resnet18.onnx" });
    const data = await loadDataset("cifar10:test");
    const train = subset(data, Array.from({ length: 400 }, (_, i) => i), "cifar10:test[0:400]");
    const test = subset(data, Array.from({ length: 300 }, (_, i) => 700 + i), "cifar10:test[700:1000]");
    try {
      const units = [0, 7];
      const result = await recover(model, train, { site: "layer2.1.conv1", units, test, epochs: 2, lr: 0.001, batchSize: 50, threads: 1 });
      const swept = await ablate(model, test, { conditions: [condition(resolveSite(model, "layer2.1.conv1"), units)], loss: false });
      expect(result.intact.accuracy).toBe(swept.baseline.accuracy);
      expect(result.ablated.accuracy).toBeCloseTo(swept.conditions[0].accuracy, 12);
      expect(result.epochs).toHaveLength(2);
      const recovered = await openModel(result.recovered, { name: "recovered.onnx" });
      try {
        expect(recovered.sites.map((s) => s.name)).toEqual(model.sites.map((s) => s.name));
        const recording = await record(recovered, test, { sites: ["layer2.1.conv1"] });
        const active = recording.sites[0].fractionActive;
        expect([active[0], active[7]]).toEqual([0, 0]);
        expect(active.filter((f) => f > 0).length).toBe(14);
        expect((await evaluate(recovered, test)).accuracy).toBeCloseTo(result.epochs[1].accuracy, 12);
      } finally {
        await closeModel(recovered);
      }
      const refusal = {
        code: "unsupported-op",
        message: "site layer2.1 is a residual block's output (the sum of its branches): its units cannot be held at zero by one layer's weights, so the retrained model could not keep them ablated; recover a site inside the block (a conv's output: `lesion info` lists them)",
      };
      await expect(recover(model, train, { site: "layer2.1", units: [3], test, epochs: 1 })).rejects.toMatchObject(refusal);
      // A study that would recover there says so before its first step, not after the others.
      const dir = join(mkdtempSync(join(tmpdir(), "lesion-resnet-study-")), "study");
      await expect(study(model, test, { dir, sites: ["layer2.1", "layer3.0"], recover: { train } })).rejects.toMatchObject(refusal);
      expect(existsSync(join(dir, "eval"))).toBe(false);
    } finally {
      await closeModel(model);
    }
  });

  it("the imported kuangliu ResNet (conv shortcuts) trains too; akamaster's option A shortcut (Slice, Pad) is named as what lesion does not train", async () => {
    const fixture = (name: string) => new URL(`../fixtures/resnet/${name}.pt`, import.meta.url).pathname;
    const data = await loadDataset("cifar10:test");
    const train = subset(data, Array.from({ length: 64 }, (_, i) => i), "cifar10:test[0:64]");
    const shortcut = await openModel((await importModel(fixture("cifar_shortcut"), { arch: "resnet", ...CIFAR })).bytes, { name: "shortcut.onnx" });
    try {
      const result = await recover(shortcut, train, { site: "layer3.0.conv1", units: [1], test: train, epochs: 1, lr: 0.001, batchSize: 32, threads: 1 });
      expect(result.epochs[0].accuracy).toBeGreaterThan(0);
    } finally {
      await closeModel(shortcut);
    }
    const optionA = await openModel((await importModel(fixture("cifar_resnet20a"), { arch: "resnet", ...CIFAR })).bytes, { name: "resnet20.onnx" });
    try {
      await expect(recover(optionA, train, { site: "layer1.0.conv1", units: [1], test: train, epochs: 1 })).rejects.toMatchObject({ code: "unsupported-op", message: expect.stringContaining("Slice node /layer2/layer2.0/shortcut/Slice is no layer lesion trains") });
    } finally {
      await closeModel(optionA);
    }
  });
});
