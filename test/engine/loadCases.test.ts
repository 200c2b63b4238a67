/**
 * Real-world graph layouts of issue #13 (test/fixtures/cases/, copied from ../shared/cases/): each opens, evaluates
 * and ablates with the right values from its case README (onnxruntime in Python on all 10,000 mnist:test images,
 * the site masked by a Mul inserted in the graph). Accuracies are compared exactly (as counts of 10,000), losses to
 * the README's printed digits.
 */
import { copyFileSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { info } from "../../src/models/info.js";
import { record } from "../../src/engine/record.js";
import { importModel } from "../../src/models/importModel.js";
import { DataType, decodeModel, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";

export const casePath = (name: string) => new URL(`../fixtures/cases/${name}`, import.meta.url).pathname;

let mnist: Dataset | null = null;
export async function mnistTest(): Promise<Dataset> {
  return (mnist ??= await loadDataset("mnist:test"));
}

export async function withModel<T>(path: string, body: (model: LesionModel) => Promise<T>): Promise<T> {
  const model = await openModel(path);
  try {
    return await body(model);
  } finally {
    await closeModel(model);
  }
}

/** Intact accuracy/loss and per-condition accuracy/loss as the README tables give them (accuracy to 4 digits). */
export interface Expected {
  accuracy: number;
  loss: number;
  conditions: Array<{ site: string; unit: number; accuracy: number; loss: number }>;
}

export async function expectCase(model: LesionModel, expected: Expected, lossDigits = 6): Promise<void> {
  const data = await mnistTest();
  const tolerance = 0.5 * 10 ** -lossDigits + 2e-6;
  const evaluation = await evaluate(model, data);
  expect(Math.round(evaluation.accuracy * 10000)).toBe(Math.round(expected.accuracy * 10000));
  expect(Math.abs(evaluation.loss - expected.loss)).toBeLessThanOrEqual(tolerance);
  const result = await ablate(model, data, { conditions: expected.conditions.map((c) => condition(resolveSite(model, c.site), [c.unit])) });
  expect(Math.round(result.baseline.accuracy * 10000)).toBe(Math.round(expected.accuracy * 10000));
  expect(Math.abs(result.baseline.loss! - expected.loss)).toBeLessThanOrEqual(tolerance);
  expected.conditions.forEach((c, i) => {
    const got = result.conditions[i];
    expect([got.site, got.units, Math.round(got.accuracy * 10000)], `${c.site}:${c.unit}`).toEqual([c.site, [c.unit], Math.round(c.accuracy * 10000)]);
    expect(Math.abs(got.loss! - c.loss), `${c.site}:${c.unit} loss`).toBeLessThanOrEqual(tolerance);
  });
}

describe("weight-node-after-site: weights computed from initializers are folded at open", () => {
  const dir = "weight-node-after-site";
  const cases: Record<string, Expected> = {
    weight_reshape_cnn: {
      accuracy: 0.0925,
      loss: 2.311818,
      conditions: [
        { site: "conv1", unit: 0, accuracy: 0.0658, loss: 2.356991 },
        { site: "conv1", unit: 3, accuracy: 0.0812, loss: 2.292089 },
      ],
    },
    weight_transpose_mlp: {
      accuracy: 0.1261,
      loss: 2.334933,
      conditions: [
        { site: "matmul2", unit: 14, accuracy: 0.1092, loss: 2.346272 },
        { site: "matmul2", unit: 13, accuracy: 0.1156, loss: 2.340881 },
      ],
    },
    // The README's gemm5 is the hidden ReLU behind four Cast nodes; folded, it is the second node, as in the twin.
    fp16_weights_cast_mlp: {
      accuracy: 0.126,
      loss: 2.334933,
      conditions: [
        { site: "gemm1", unit: 14, accuracy: 0.1093, loss: 2.346274 },
        { site: "gemm1", unit: 13, accuracy: 0.1156, loss: 2.340884 },
        { site: "gemm1", unit: 7, accuracy: 0.1166, loss: 2.328886 },
      ],
    },
  };
  for (const [name, expected] of Object.entries(cases)) {
    it(`openModel(${name}.onnx) evaluates and ablates to the README's values, and lists the folded twin's sites`, async () => {
      const twinSites = await withModel(casePath(`${dir}/${name}_folded.onnx`), async (twin) => twin.sites.map((s) => [s.name, s.units, s.shape]));
      await withModel(casePath(`${dir}/${name}.onnx`), async (model) => {
        expect(model.normalization.foldedNodes).toBeGreaterThan(0);
        expect(model.sites.map((s) => [s.name, s.units, s.shape])).toEqual(twinSites);
        await expectCase(model, expected);
      });
    }, 60_000);
  }

  it("info(weight_reshape_cnn) lists the final MatMul site and says what was folded", async () => {
    await withModel(casePath(`${dir}/weight_reshape_cnn.onnx`), async (model) => {
      const result = info(model);
      expect(result.sites.map((s) => [s.name, s.op, s.units])).toEqual([
        ["conv1", "Relu", 4],
        ["matmul3", "MatMul", 10],
      ]);
      expect(result.notes.join("\n")).toMatch(/1 constant-only node .* folded into initializers/);
    });
  });
});

/** NumPy float64 references for the ablations (test/fixtures/cases/make_references.py, output committed). */
const references = JSON.parse(readFileSync(casePath("references.json"), "utf8")) as Record<
  string,
  { intact: { accuracy: number; loss: number }; units: Record<string, { accuracy: number; loss: number }> }
>;

/** README intact values plus the NumPy ablations of `site` for the case file `file`. */
function expected(file: string, site: string, intact: { accuracy: number; loss: number }): Expected {
  const reference = references[file];
  expect(Math.round(reference.intact.accuracy * 10000)).toBe(Math.round(intact.accuracy * 10000));
  return {
    ...intact,
    conditions: Object.entries(reference.units).map(([unit, value]) => ({ site, unit: Number(unit), accuracy: value.accuracy, loss: Number(value.loss.toFixed(6)) })),
  };
}

describe("fp16-graph: float16 graphs are computed in float32", () => {
  // README: 7.26 %, loss 2.3545 for all three files (onnxruntime in Python). The sites are named as in fp32.onnx (the
  // README's `--site gemm1`): keep_io_types' input Cast, float32 → float32 once converted, is removed.
  const files: Array<[string, boolean]> = [
    ["fp16_io.onnx", true],
    ["fp16_keepio.onnx", true],
    ["fp32.onnx", false],
  ];
  const site = "gemm1";
  for (const [file, float16] of files) {
    it(`openModel(${file}) lists the hidden and logit sites, evaluates to 7.26 % / 2.3545 and ablates as NumPy does`, async () => {
      await withModel(casePath(`fp16-graph/${file}`), async (model) => {
        expect(model.normalization.float16).toBe(float16);
        expect(model.sites.map((s) => [s.name, s.units])).toEqual([[site, 16], ["gemm2", 10]]);
        await expectCase(model, expected(`fp16-graph/${file}`, site, { accuracy: 0.0726, loss: 2.3545 }), 4);
        if (float16) expect(info(model).notes.join("\n")).toMatch(/stored as float16; lesion computes it in float32/);
      });
    }, 60_000);
  }

  it("record(model with no sites) is a bad-model error, not an empty success", async () => {
    const graph = onnx.GraphProto.create({
      name: "no-sites",
      node: [makeNode("Mul", ["x", "scale"], ["logits"], "scale")],
      initializer: [makeTensor("scale", [1], Float32Array.of(2))],
      input: [makeValueInfo("x", DataType.FLOAT, ["batch", 3])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["batch", 3])],
    });
    const bytes = encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }], graph }));
    const model = await openModel(bytes, { name: "scale.onnx" });
    try {
      expect(model.sites).toEqual([]);
      const data: Dataset = { spec: "tiny", n: 2, shape: [1, 1, 3], images: new Float32Array(6), labels: Int32Array.of(0, 1), numClasses: 3, classNames: ["a", "b", "c"], source: "test" };
      await expect(record(model, data)).rejects.toMatchObject({ code: "bad-model", message: expect.stringMatching(/^scale\.onnx has no sites lesion can record or ablate/) });
      expect(() => resolveSite(model, "gemm1")).toThrow(/scale\.onnx has no sites/);
    } finally {
      await closeModel(model);
    }
  });
});

describe("reshape-allowzero-fixed-batch: a fixed batch with allowzero=1 is made symbolic", () => {
  for (const file of ["allowzero.onnx", "no_allowzero.onnx"]) {
    it(`openModel(${file}) evaluates to 9.61 % / 2.3653 in batches and ablates conv1 as NumPy does`, async () => {
      await withModel(casePath(`reshape-allowzero-fixed-batch/${file}`), async (model) => {
        expect(model.sites.map((s) => [s.name, s.units])).toEqual([["conv1", 4], ["gemm3", 10]]);
        await expectCase(model, expected("reshape-allowzero-fixed-batch/allowzero.onnx", "conv1", { accuracy: 0.0961, loss: 2.3653 }), 4);
      });
    }, 60_000);
  }
});

describe("external-data-cwd: tensors in model.onnx.data are read from beside the model", () => {
  for (const layout of ["ext", "ext2"]) {
    it(`openModel(${layout}/model.onnx) from another directory evaluates and ablates like single.onnx (NumPy)`, async () => {
      await withModel(casePath(`external-data-cwd/${layout}/model.onnx`), async (model) => {
        expect(model.normalization.externalTensors).toBe(layout === "ext" ? 4 : 1);
        expect(info(model).notes.join("\n")).toMatch(/read from external data model\.onnx\.data beside the model/);
        await expectCase(model, expected(`external-data-cwd/${layout}/model.onnx`, "conv1", references["external-data-cwd/single.onnx"].intact));
      });
    }, 60_000);
  }

  it("openModel(bytes of a model with external data) says to open it by its path", async () => {
    await expect(openModel(readFileSync(casePath("external-data-cwd/ext/model.onnx")), { name: "model.onnx" })).rejects.toMatchObject({
      code: "bad-model",
      message: "model.onnx keeps its tensors in external data (model.onnx.data); open it by its file path so they are read from beside it",
    });
  });

  it("openModel(model whose data file is missing) is a missing-file error naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-ext-"));
    copyFileSync(casePath("external-data-cwd/ext/model.onnx"), join(dir, "model.onnx"));
    await expect(openModel(join(dir, "model.onnx"))).rejects.toMatchObject({
      code: "missing-file",
      message: expect.stringMatching(/^model\.onnx keeps tensor \w+ in model\.onnx\.data, which is not next to the model/),
    });
  });

  it("importModel(ext2/model.onnx) writes one self-contained file that opens anywhere", async () => {
    const result = await importModel(casePath("external-data-cwd/ext2/model.onnx"));
    const proto = decodeModel(result.bytes);
    expect(proto.graph!.initializer!.every((t) => t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL && (t.externalData ?? []).length === 0)).toBe(true);
    // Every weight is inside: the file is as large as single.onnx, not 606 bytes.
    expect(result.bytes.length).toBeGreaterThan(statSync(casePath("external-data-cwd/single.onnx")).size);
    const model = await openModel(result.bytes, { name: "m.onnx" });
    try {
      const evaluation = await evaluate(model, await mnistTest());
      expect(Math.round(evaluation.accuracy * 10000)).toBe(961);
    } finally {
      await closeModel(model);
    }
  }, 60_000);
});
