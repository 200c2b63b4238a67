import { describe, expect, it } from "vitest";
import { closest } from "../../src/errors.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { randomCnn, randomMlp } from "../helpers.js";

describe("openModel", () => {
  it("openModel(mlp) lists the ReLU outputs named after their layers, and the logits layer", async () => {
    const model = await openModel(randomMlp([16, 8, 6, 3]), { name: "mlp" });
    try {
      expect(model.sites.map((s) => [s.name, s.op, s.kind, s.units])).toEqual([
        ["fc1", "Relu", "dense", 8],
        ["fc2", "Relu", "dense", 6],
        ["fc3", "Gemm", "dense", 3],
      ]);
      expect(model.numClasses).toBe(3);
      expect(model.inputShape).toEqual([16]);
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(cnn) gives conv sites with channels as units", async () => {
    const model = await openModel(randomCnn(), { name: "cnn" });
    try {
      expect(model.sites.map((s) => [s.name, s.kind, s.units, s.shape])).toEqual([
        ["conv1", "conv", 4, [4, 8, 8]],
        ["conv2", "conv", 6, [6, 4, 4]],
        ["fc", "dense", 5, [5]],
      ]);
    } finally {
      await closeModel(model);
    }
  });

  it("resolveSite(model, 'fc') names the closest sites", async () => {
    const model = await openModel(randomMlp([16, 8, 6, 3]), { name: "mlp" });
    try {
      expect(() => resolveSite(model, "fc")).toThrow(/unknown site 'fc' in mlp; closest: fc1, fc2, fc3/);
    } finally {
      await closeModel(model);
    }
  });

  it("closest('stage1', a ConvNeXt's sites) puts the sites under stage1 first, not the short names nearest by edit distance", () => {
    expect(closest("stage1", ["stem.0", "down.1", "head", "stage1.0.dwconv", "stage1.1.dwconv", "stage2.0.dwconv"])).toEqual(["stage1.0.dwconv", "stage1.1.dwconv", "stem.0"]);
  });

  it("openModel(non-ONNX bytes) is a bad-model error", async () => {
    await expect(openModel(new TextEncoder().encode("hello, not a model"), { name: "x.onnx" })).rejects.toMatchObject({ code: "bad-model" });
  });
});
