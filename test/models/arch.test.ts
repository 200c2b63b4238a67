/**
 * The one architecture grammar (src/models/arch.ts) read by both `train --arch` (zooNetwork) and `import --arch`
 * (importModel): every spelling accepted before still reads the same; the zoo names expand to the layer lists written
 * out by hand here (cnn:small as the old zoo built it); vgg:small is PyTorch's VGG-BN of
 * test/fixtures/cnn/make_vgg_bn_state.py, parameter for parameter, and its state_dict imported with
 * `--arch vgg:small` keeps BatchNorm and predicts as PyTorch does on the bundled CIFAR-10 subset.
 */
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { loadDataset } from "../../src/data/loadDataset.js";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { LesionError } from "../../src/errors.js";
import { parseArch } from "../../src/models/arch.js";
import { importModel } from "../../src/models/importModel.js";
import { networkInputs } from "../../src/models/train.js";
import { zooNetwork } from "../../src/models/zoo.js";
import { buffers, networkOf, parameters, type Network } from "../../src/onnx/network.js";
import { decodeModel } from "../../src/onnx/proto.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/cnn/${name}`, import.meta.url));

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof LesionError ? `${error.code}: ${error.message}` : `not a LesionError: ${error}`;
  }
  return "no error";
}

describe("parseArch", () => {
  it("parseArch reads the import spellings as before: mlp, positional and named conv arguments, pools, activations", () => {
    expect(parseArch("mlp")).toBeNull();
    expect(parseArch(" conv(2,1),bn,relu,maxpool(3,stride=2),avgpool(2),leakyrelu(0.2),tanh,sigmoid,dropout,flatten,linear")).toEqual([
      { op: "conv", stride: 2, padding: 1 },
      { op: "bn" },
      { op: "relu" },
      { op: "maxpool", kernel: 3, stride: 2 },
      { op: "avgpool", kernel: 2, stride: 2 },
      { op: "leakyrelu", alpha: 0.2 },
      { op: "tanh" },
      { op: "sigmoid" },
      { op: "dropout", p: 0.5 },
      { op: "flatten" },
      { op: "linear" },
    ]);
    expect(parseArch("conv(stride=1,padding=1,out=8,kernel=5),linear(out=10,in=3)")).toEqual([{ op: "conv", stride: 1, padding: 1, out: 8, kernel: 5 }, { op: "linear", out: 10, in: 3 }]);
  });

  it("parseArch expands mlp:W-…, cnn:small and vgg:… to layer lists", () => {
    expect(parseArch("mlp:784-100-10")).toEqual([{ op: "flatten" }, { op: "linear", in: 784, out: 100 }, { op: "relu" }, { op: "linear", out: 10 }]);
    expect(parseArch("cnn:small")).toEqual(parseArch("conv(out=16,padding=1),relu,maxpool(2),conv(out=32,padding=1),relu,maxpool(2),flatten,linear(out=128),relu,linear"));
    expect(parseArch("vgg:small")).toEqual(parseArch("vgg:16-16-M-32-32-M-64-M-fc64"));
    const conv = (out: number, name: string) => ({ op: "conv", out, kernel: 3, stride: 1, padding: 1, name });
    expect(parseArch("vgg:8-M-fc4")).toEqual([conv(8, "features.0"), { op: "bn", name: "features.1" }, { op: "relu" }, { op: "maxpool", kernel: 2, stride: 2 }, { op: "flatten" }, { op: "linear", out: 4, name: "classifier.1" }, { op: "relu" }, { op: "linear", name: "classifier.3" }]);
  });

  it("parseArch refuses what it cannot read with bad-arch naming it", () => {
    expect(codeOf(() => parseArch("resnet"))).toMatch(/^bad-arch: `resnet` is read by import only/);
    expect(codeOf(() => parseArch("conv,pool(2)"))).toMatch(/^bad-arch: unknown layer 'pool'/);
    expect(codeOf(() => parseArch("vgg:16-X"))).toMatch(/^bad-arch: cannot read 'X' in 'vgg:16-X'/);
    expect(codeOf(() => parseArch("vgg:fc8-M"))).toMatch(/^bad-arch: cannot read 'M'/);
    expect(codeOf(() => parseArch("mlp:784"))).toMatch(/^bad-arch: cannot read 'mlp:784'/);
    expect(codeOf(() => parseArch("conv(size=3)"))).toBe("bad-arch: layer 'conv(size=3)' takes no argument 'size' (it takes stride, padding, out, kernel)");
    expect(codeOf(() => parseArch("dropout(1)"))).toMatch(/^bad-arch: layer 'dropout\(1\)' needs a drop probability/);
  });
});

describe("zooNetwork", () => {
  it("zooNetwork(cnn:small) and zooNetwork(mlp:…) build the networks the zoo built before", () => {
    const cnn: Network = {
      inputShape: [1, 28, 28],
      layers: [
        { op: "conv", name: "conv1", in: 1, out: 16, kernel: 3, stride: 1, padding: 1, bias: true },
        { op: "relu" },
        { op: "maxpool", kernel: 2, stride: 2 },
        { op: "conv", name: "conv2", in: 16, out: 32, kernel: 3, stride: 1, padding: 1, bias: true },
        { op: "relu" },
        { op: "maxpool", kernel: 2, stride: 2 },
        { op: "flatten" },
        { op: "linear", name: "fc1", in: 32 * 7 * 7, out: 128, bias: true },
        { op: "relu" },
        { op: "linear", name: "fc2", in: 128, out: 10, bias: true },
      ],
    };
    expect(zooNetwork("cnn:small", [1, 28, 28], 10)).toEqual(cnn);
    expect(zooNetwork("mlp:4-3-2", [1, 2, 2], 2)).toEqual({
      inputShape: [1, 2, 2],
      layers: [{ op: "flatten" }, { op: "linear", name: "fc1", in: 4, out: 3, bias: true }, { op: "relu" }, { op: "linear", name: "fc2", in: 3, out: 2, bias: true }],
    });
  });

  it("zooNetwork(vgg:small) has PyTorch's VGG-BN parameters and buffers, by name and shape (state_dict order)", () => {
    const net = zooNetwork("vgg:small", [3, 32, 32], 10);
    const shapes = (ps: Array<{ name: string; shape: number[] }>) => ps.map((p) => `${p.name}:${p.shape.join("x")}`);
    const bn = (i: number, c: number) => [`features.${i}.weight:${c}`, `features.${i}.bias:${c}`];
    expect(shapes(parameters(net))).toEqual([
      "features.0.weight:16x3x3x3", "features.0.bias:16", ...bn(1, 16),
      "features.3.weight:16x16x3x3", "features.3.bias:16", ...bn(4, 16),
      "features.7.weight:32x16x3x3", "features.7.bias:32", ...bn(8, 32),
      "features.10.weight:32x32x3x3", "features.10.bias:32", ...bn(11, 32),
      "features.14.weight:64x32x3x3", "features.14.bias:64", ...bn(15, 64),
      "classifier.1.weight:64x1024", "classifier.1.bias:64", "classifier.3.weight:10x64", "classifier.3.bias:10",
    ]);
    expect(shapes(buffers(net))).toEqual([1, 4, 8, 11, 15].flatMap((i, k) => [`features.${i}.running_mean:${[16, 16, 32, 32, 64][k]}`, `features.${i}.running_var:${[16, 16, 32, 32, 64][k]}`]));
  });

  it("zooNetwork refuses specs it cannot train with bad-arch", () => {
    expect(codeOf(() => zooNetwork("mlp", [1, 2, 2], 2))).toMatch(/^bad-arch: 'mlp' needs its layer widths/);
    expect(codeOf(() => zooNetwork("mlp:5-2", [1, 2, 2], 2))).toMatch(/^bad-arch: mlp:5-2 takes 5 inputs but the images are 1x2x2 = 4/);
    expect(codeOf(() => zooNetwork("mlp:4-3", [1, 2, 2], 2))).toMatch(/^bad-arch: mlp:4-3 has 3 outputs but the data has 2 classes/);
    expect(codeOf(() => zooNetwork("conv(padding=1),relu,flatten,linear", [1, 4, 4], 2))).toMatch(/^bad-arch: conv layer 1 .* needs its channel count/);
    expect(codeOf(() => zooNetwork("conv(out=2),linear", [1, 4, 4], 2))).toMatch(/add flatten before it/);
    expect(codeOf(() => zooNetwork("vgg:8-M-8-M-8-M-8-M", [1, 8, 8], 2))).toMatch(/^bad-arch: .*too small/);
  });
});

describe("import --arch vgg:small", () => {
  it("importModel(vgg_bn_state.pt, {arch: 'mlp'}): bad-arch naming the conv weight, not a question about the image shape (helper trial 'newuser13')", async () => {
    const path = fileURLToPath(new URL("../fixtures/cnn/vgg_bn_state.pt", import.meta.url));
    await expect(importModel(path, { arch: "mlp" })).rejects.toMatchObject({ code: "bad-arch", message: expect.stringMatching(/`arch` mlp builds linear layers, but .*vgg_bn_state\.pt's first weight features\.0\.weight has shape 16x3x3x3/) });
  });

  it("importModel(vgg_bn_state.pt, {arch: 'vgg:small'}) keeps BatchNorm and predicts as PyTorch on cifar10:test", async () => {
    const reference = JSON.parse(readFileSync(fixture("vgg_bn_state.reference.json"), "utf8")) as { mean: number[]; std: number[]; predictions: number[]; logits: number[] };
    const imported = await importModel(fixture("vgg_bn_state.pt"), { arch: "vgg:small", mean: reference.mean, std: reference.std });
    const found = networkOf(decodeModel(imported.bytes), [3, 32, 32])!;
    expect(found.network).toEqual(zooNetwork("vgg:small", [3, 32, 32], 10));
    const data = await loadDataset("cifar10:test");
    const session = await createSession(imported.bytes, 1);
    try {
      const inputs = networkInputs(data, imported.preprocessing).inputs;
      const logits = (await session.run({ input: new OrtTensor("float32", inputs, [data.n, 3, 32, 32]) })).logits.data as Float32Array;
      const predictions = Array.from({ length: data.n }, (_, r) => {
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[r * 10 + c] > logits[r * 10 + best]) best = c;
        return best;
      });
      // PyTorch's smallest top-1/top-2 margin on these images is 0.81: no near tie to excuse.
      expect(predictions).toEqual(reference.predictions);
      reference.logits.forEach((v, i) => expect(Math.abs(logits[i] - v), `logit ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
    } finally {
      await session.release();
    }
  });

  it("importModel with a spec whose widths contradict the checkpoint is bad-arch naming the layer", async () => {
    const error = await importModel(fixture("vgg_bn_state.pt"), { arch: "vgg:16-16-M-32-32-M-48-M-fc64" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LesionError);
    expect((error as LesionError).message).toBe("layer features.14 has 64 output channels in the checkpoint but the architecture says 48");
  });
});
