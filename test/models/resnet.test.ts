/**
 * `import --arch resnet` (src/models/resnet.ts) against PyTorch: four ResNet state_dicts written by
 * test/fixtures/resnet/make_resnet_states.py with torchvision's own blocks and the two common CIFAR layouts (a
 * `shortcut` module; akamaster's option A shortcuts without weights), their float64 logits, the node names
 * torch.onnx.export writes for the same modules, and for the CIFAR ones a channel's ablation on cifar10:test.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { parseArch } from "../../src/models/arch.js";
import { importModel } from "../../src/models/importModel.js";
import { resnetModel } from "../../src/models/resnet.js";
import { readStateDict } from "../../src/models/torch/readCheckpoint.js";
import type { StateDict } from "../../src/models/torch/types.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { classifierLayers, networkOf } from "../../src/onnx/network.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { resolveSite } from "../../src/engine/model.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/resnet/${name}`, import.meta.url));

interface Reference {
  inputShape: [number, number, number];
  classes: number;
  logits: number[];
  export: { convs: string[]; relus: number; adds: number };
  ablation?: { mean: number[]; std: number[]; site: string; unit: number; intact: number[]; ablated: number[] };
}
const reference = JSON.parse(readFileSync(fixture("resnet.reference.json"), "utf8")) as { models: Record<string, Reference> };

/** make_resnet_states.py's images: uniform pixels from a 32-bit LCG, exact in float32. */
function images(n: number, size: number): Float32Array {
  let state = 12345;
  const values = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0;
    values[i] = (state >>> 8) / 2 ** 24;
  }
  return values;
}

function stateOf(name: string): StateDict {
  return readStateDict(readFileSync(fixture(`${name}.pt`)), name).tensors;
}

describe("import --arch resnet", () => {
  for (const [name, ref] of Object.entries(reference.models)) {
    it(`${name}: the graph torch.onnx.export writes (its Conv and Gemm nodes by name, ReLU and Add counts), and PyTorch's float64 logits`, async () => {
      const imported = await importModel(fixture(`${name}.pt`), { arch: "resnet", inputShape: ref.inputShape });
      const nodes = decodeModel(imported.bytes).graph!.node!;
      expect(nodes.filter((n) => n.opType === "Conv" || n.opType === "Gemm").map((n) => n.name)).toEqual(ref.export.convs);
      expect(nodes.filter((n) => n.opType === "Relu").length).toBe(ref.export.relus);
      expect(nodes.filter((n) => n.opType === "Add").length).toBe(ref.export.adds);
      const session = await createSession(imported.bytes, 1);
      try {
        const size = ref.inputShape[1];
        const logits = (await session.run({ input: new OrtTensor("float32", images(8, size), [8, 3, size, size]) })).logits.data as Float32Array;
        expect(logits.length).toBe(ref.logits.length);
        ref.logits.forEach((v, i) => expect(Math.abs(logits[i] - v), `logit ${i}: ${logits[i]} vs ${v}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
      } finally {
        await session.release();
      }
    });
  }

  for (const name of ["cifar_shortcut", "cifar_resnet20a"]) {
    it(`${name}: a channel of layer1.0 zeroed on cifar10:test loses per class what PyTorch's float64 forward hook loses`, async () => {
      const ref = reference.models[name];
      const ablation = ref.ablation!;
      const imported = await importModel(fixture(`${name}.pt`), { arch: "resnet", mean: ablation.mean, std: ablation.std });
      const model = await openModel(imported.bytes, { name: `${name}.onnx` });
      try {
        const data: Dataset = await loadDataset("cifar10:test");
        const counts = Array.from({ length: 10 }, (_, c) => data.labels.filter((l) => l === c).length);
        const result = await ablate(model, data, { conditions: [condition(resolveSite(model, ablation.site), [ablation.unit])], loss: false });
        expect(result.baseline.perClass.map((p, c) => Math.round(p! * counts[c]))).toEqual(ablation.intact);
        expect(result.conditions[0].perClass.map((p, c) => Math.round(p! * counts[c]))).toEqual(ablation.ablated);
        expect(result.unresolvedTies).toBe(0);
      } finally {
        await closeModel(model);
      }
    });
  }

  it("site names are the export's: the stem conv1, a block's inner ReLU after its conv, its output after the residual Add, the shortcut conv, the head", async () => {
    const imported = await importModel(fixture("torchvision_basic.pt"), { arch: "resnet", inputShape: [3, 64, 64] });
    const model = await openModel(imported.bytes, { name: "torchvision_basic.onnx" });
    try {
      const names = model.sites.map((s) => s.name);
      expect(names.slice(0, 8)).toEqual(["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0", "layer1.1.conv1", "layer1.1.conv2", "layer1.1", "layer2.0.conv1"]);
      expect(names).toContain("layer2.0.downsample.0");
      expect(names[names.length - 1]).toBe("fc");
    } finally {
      await closeModel(model);
    }
  });

  it("torchvision_basic imported is a network recover trains: networkOf reads its padded stem max pool and Adds; built back it gives the same logits", async () => {
    const ref = reference.models.torchvision_basic;
    const imported = await importModel(fixture("torchvision_basic.pt"), { arch: "resnet", inputShape: ref.inputShape });
    const found = networkOf(decodeModel(imported.bytes), ref.inputShape)!;
    expect(found.network.layers[2]).toEqual({ op: "maxpool", kernel: 3, stride: 2, padding: 1 });
    expect(found.network.layers.filter((l) => l.op === "add")).toHaveLength(5);
    const rebuilt = encodeModel(buildClassifier({ layers: classifierLayers(found.network, found.values), inputShape: ref.inputShape }));
    for (const bytes of [imported.bytes, rebuilt]) {
      const session = await createSession(bytes, 1);
      try {
        const logits = (await session.run({ input: new OrtTensor("float32", images(8, 64), [8, 3, 64, 64]) })).logits.data as Float32Array;
        ref.logits.forEach((v, i) => expect(Math.abs(logits[i] - v), `logit ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
      } finally {
        await session.release();
      }
    }
  });

  it("refuses what it cannot build, naming it: an extra module, another stem, a grouped conv, a missing shortcut; train does not take resnet", () => {
    const state = stateOf("torchvision_basic");
    const shape: [number, number, number] = [3, 64, 64];
    const build = (s: StateDict) => () => resnetModel(s, shape, "net.pt");
    const se = { name: "layer1.0.se.fc1.weight", dtype: "float32" as const, shape: [2, 8], data: new Float32Array(16) };
    expect(build([...state, se])).toThrow("net.pt has tensors no part of a ResNet takes: layer1.0.se.fc1.weight; export the model to ONNX (torch.onnx.export) instead");
    const stem5 = state.map((t) => (t.name === "conv1.weight" ? { ...t, shape: [8, 3, 5, 5], data: new Float32Array(8 * 3 * 25) } : t));
    expect(build(stem5)).toThrow("net.pt's stem conv1 is 5x5");
    const grouped = state.map((t) => (t.name === "layer1.0.conv2.weight" ? { ...t, shape: [8, 2, 3, 3], data: new Float32Array(8 * 2 * 9) } : t));
    expect(build(grouped)).toThrow("layer1.0.conv2 takes 2 channels but gets 8 (a grouped conv, as ResNeXt's: export the model to ONNX instead)");
    const noShortcut = state.filter((t) => !t.name.startsWith("layer2.0.downsample."));
    expect(build(noShortcut)).toThrow("layer2.0 goes from 8x16x16 to 16x8x8 but net.pt has no layer2.0.downsample or layer2.0.shortcut weights for its identity branch");
    expect(() => parseArch("resnet")).toThrow("`resnet` is read by import only");
    // A pre-activation ResNet (no bn1 after the stem, a bn1 in each block) and a fine-tuning head in a Sequential.
    expect(build(state.filter((t) => !t.name.startsWith("bn1.")))).toThrow("net.pt has no bn1 after its stem conv1, as a pre-activation ResNet has (its BatchNorms come before their convs): `arch` resnet builds post-activation ResNets; export the model to ONNX (torch.onnx.export) instead");
    expect(build(state.map((t) => (t.name.startsWith("fc.") ? { ...t, name: t.name.replace("fc.", "fc.1.") } : t)))).toThrow("net.pt has no head (fc.weight or linear.weight) after its stages; its head is a Sequential (fc.1.weight): rename those keys to fc.weight and .bias if it is one Linear, else export the model to ONNX (torch.onnx.export)");
    // [H, W, C] for [C, H, W].
    expect(() => resnetModel(state, [64, 64, 3], "net.pt")).toThrow("the image shape 64x64x3 looks like HxWxC; `inputShape` is CxHxW (3x64x64)");
  });

  it("what the keys cannot say is said, and chosen: the stem (resnet:maxpool, resnet:nomaxpool), the image size from a crop; a depth as the arch, 0–255 normalisation refused", async () => {
    const path = fixture("cifar_resnet20a.pt");
    const plain = await importModel(path, { arch: "resnet" });
    expect(plain.note).toBe("took checkpoint['state_dict']: 44 tensors, without the prefix 'module.' every key had; built a ResNet, stem: 3x3 conv1, stride 1, no max pool (arch resnet:maxpool or resnet:nomaxpool to choose the pool)");
    const pooled = await importModel(path, { arch: "resnet:maxpool" });
    expect(pooled.note).toContain("stem: 3x3 conv1, stride 1, then a 3x3 max pool, stride 2");
    const pool = decodeModel(pooled.bytes).graph!.node!.find((n) => n.opType === "MaxPool")!;
    expect([pool.name, pool.input![0]]).toEqual(["/maxpool/MaxPool", "/relu/Relu_output_0"]);
    const unpooled = await importModel(fixture("torchvision_basic.pt"), { arch: "resnet:nomaxpool", inputShape: [3, 64, 64] });
    expect(decodeModel(unpooled.bytes).graph!.node!.some((n) => n.opType === "MaxPool")).toBe(false);
    // A crop is the image size (a trial's --crop 224 had kept 3x32x32); a crop against the given shape is refused.
    expect((await importModel(fixture("torchvision_basic.pt"), { arch: "resnet", resize: 256, crop: 224 })).preprocessing.imageShape).toEqual([3, 224, 224]);
    await expect(importModel(fixture("torchvision_basic.pt"), { arch: "resnet", inputShape: [3, 32, 32], crop: 224 })).rejects.toThrow("`crop` 224 cuts 224x224 images but the model takes 3x32x32; give `inputShape` 3x224x224 (a network that takes any size) or the crop it was trained with");
    await expect(importModel(path, { arch: "resnet20" })).rejects.toThrow("`arch` resnet20: give resnet (lesion reads the depth, widths and blocks from the state_dict's keys)");
    await expect(importModel(path, { arch: "resnet", mean: [125.3, 123, 113.9], std: [63, 62.1, 66.7] })).rejects.toThrow("`mean` 125.3,123,113.9 is above 1, but lesion's pixels are in [0, 1]: for a model trained on 0–255 pixels give the mean and std divided by 255 (`mean` 0.4914,0.4824,0.4467 `std` 0.2471,0.2435,0.2616)");
  });
});
