/** Preprocessing that does not fit the model's images is refused at import, not silently ignored or misread. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { assembleDataset } from "../../src/data/assembleDataset.js";
import { openModel } from "../../src/engine/model.js";
import { importModel } from "../../src/models/importModel.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { errorOf } from "../helpers.js";

const MLP20 = fileURLToPath(new URL("../fixtures/meyes2019/meyes2019-mlp20/trained.pt", import.meta.url));
const VGG = fileURLToPath(new URL("../fixtures/cnn/vgg_bn.onnx", import.meta.url));

describe("importModel: mean and std per channel", () => {
  it("importModel(a 1-channel MNIST checkpoint, {mean: three values}) is bad-option naming the channel count", async () => {
    const error = await errorOf(() => importModel(MLP20, { arch: "mlp", mean: [0.1, 0.9, 0.9], std: [0.5] }));
    expect([error.code, error.message]).toEqual(["bad-option", "`mean` has 3 values but the model's images have 1 channel; give one value or one per channel"]);
  });

  it("importModel(a 3-channel ONNX CNN, {mean, std: two values}) is bad-option; one value or three are taken", async () => {
    const error = await errorOf(() => importModel(VGG, { mean: [0.5, 0.5], std: [0.5, 0.5] }));
    expect([error.code, error.message]).toEqual(["bad-option", "`mean` has 2 values but the model's images have 3 channels; give one value or one per channel"]);
    expect((await importModel(VGG, { mean: [0.5], std: [0.25] })).preprocessing.mean).toEqual([0.5]);
    expect((await importModel(VGG, { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] })).preprocessing.std).toEqual([0.247, 0.2435, 0.2616]);
  });
});

describe("importModel: a network that takes any image size", () => {
  it("importModel(an ONNX CNN with dynamic height and width, {resize: 36, crop: 32}) takes 3x32x32 images from the crop (it had asked for --input-shape)", async () => {
    const model = decodeModel(readFileSync(VGG));
    const dims = model.graph!.input![0].type!.tensorType!.shape!.dim!;
    dims[2] = { dimParam: "H" };
    dims[3] = { dimParam: "W" };
    const path = join(mkdtempSync(join(tmpdir(), "lesion-dynamic-")), "dyn.onnx");
    writeFileSync(path, encodeModel(model));
    const imported = await importModel(path, { resize: 36, crop: 32 });
    expect([imported.preprocessing.imageShape, imported.preprocessing.crop]).toEqual([[3, 32, 32], 32]);
    // Without a crop nothing says the size: opened, it is one line naming inputShape.
    writeFileSync(path, (await importModel(path)).bytes);
    const error = await errorOf(() => openModel(path));
    expect([error.code, error.message]).toEqual(["bad-model", expect.stringMatching(/input whose sample shape is not fixed .*`inputShape`/)]);
  });
});

describe("assembleDataset: labels", () => {
  it("a negative label is label-out-of-range saying labels start at 0, not quoting the data's own range", async () => {
    const error = await errorOf(() => assembleDataset({ spec: "t", shape: [1, 1, 1], images: new Float32Array(3), labels: Int32Array.from([2, -1, 0]), numClasses: 3, classNames: ["0", "1", "2"], source: "t.npy" }));
    expect([error.code, error.message]).toEqual(["label-out-of-range", "label -1 of sample 1 in t.npy is out of range: labels are class indices from 0"]);
  });
});
