/**
 * Suffix graphs (src/onnx/surgery.ts) on graphs as exporters write them: a Reshape after the site whose target shape
 * comes from `Shape` of a tensor before the site (PyTorch 2.x's dynamic-batch flatten), and extra graph outputs
 * computed before the site. References: the cases `reshape-shape-from-input` and `second-output-before-site` of
 * issue #13 (files in test/fixtures/cases/, right values from their READMEs and expected.json), and for graphs built
 * here the whole graph run by onnxruntime with the site masked.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { LesionError } from "../../src/errors.js";
import { DataType, decodeModel, encodeModel, makeNode, makeTensor, makeValueInfo, onnx, type NodeProto, type TensorProto } from "../../src/onnx/proto.js";
import { maskInputName, offsetInputName, withMasks } from "../../src/onnx/surgery.js";
import { ablate } from "../../src/study/ablate.js";
import { condition, singles } from "../../src/study/conditions.js";
import { random, randomArray } from "../helpers.js";

const CASES = (path: string) => fileURLToPath(new URL(`../fixtures/cases/${path}`, import.meta.url));

describe("issue #13 cases on the masked suffix", () => {
  let mnist: Dataset;
  /** The first 2,000 test images, for comparisons with a control network (the case values need all 10,000). */
  let subset: Dataset;
  const opened: LesionModel[] = [];
  const open = async (path: string) => {
    const model = await openModel(CASES(path));
    opened.push(model);
    return model;
  };
  beforeAll(async () => {
    mnist = await loadDataset("mnist:test");
    subset = await loadDataset("mnist:test", { limit: 2000 });
  });
  afterAll(async () => {
    for (const model of opened) await closeModel(model);
  });

  it("ablate(shape_from_input.onnx, singles('conv1')) has the case's values and equals its Flatten twin, zero and mean", async () => {
    const model = await open("reshape-shape-from-input/shape_from_input.onnx");
    const result = await ablate(model, mnist, { conditions: singles(resolveSite(model, "conv1")) });
    // README: intact 0.0961, loss 2.365332; conv1 unit 0: 0.1102, loss 2.361734; unit 1: 0.0961, loss 2.365331.
    expect(result.baseline.accuracy).toBe(0.0961);
    expect(result.baseline.loss).toBeCloseTo(2.365332, 6);
    expect([result.conditions[0].accuracy, result.conditions[1].accuracy]).toEqual([0.1102, 0.0961]);
    expect(result.conditions[0].loss!).toBeCloseTo(2.361734, 6);
    expect(result.conditions[1].loss!).toBeCloseTo(2.365331, 6);
    const twin = await open("reshape-shape-from-input/flatten.onnx");
    for (const mode of ["zero", "mean"] as const) {
      const a = await ablate(model, subset, { conditions: singles(resolveSite(model, "conv1"), mode) });
      const b = await ablate(twin, subset, { conditions: singles(resolveSite(twin, "conv1"), mode) });
      // The twin's zero ablations take the delta path (a delta on the layer after the Flatten): same predictions, the
      // loss to float32 precision.
      expect(a.conditions.map((c) => c.accuracy)).toEqual(b.conditions.map((c) => c.accuracy));
      a.conditions.forEach((c, i) => expect(c.loss!).toBeCloseTo(b.conditions[i].loss!, 6));
    }
  });

  it("ablate(two_outputs.onnx) at fc1 and fc2 works and has the case's float64 PyTorch values", async () => {
    const expected = JSON.parse(readFileSync(CASES("second-output-before-site/expected.json"), "utf8")) as Record<string, { accuracy: number; loss: number }>;
    const model = await open("second-output-before-site/two_outputs.onnx");
    expect(model.proto.graph!.output!.map((o) => o.name)).toEqual(["output", "features", "hidden"]);
    const fc1 = await ablate(model, mnist, { conditions: singles(resolveSite(model, "fc1"), "zero", [0, 1]) });
    expect(fc1.baseline.accuracy).toBe(expected.intact.accuracy);
    expect(fc1.baseline.loss).toBeCloseTo(expected.intact.loss, 6);
    for (const [i, key] of ["fc1 unit 0", "fc1 unit 1"].entries()) {
      expect(fc1.conditions[i].accuracy).toBe(expected[key].accuracy);
      expect(fc1.conditions[i].loss!).toBeCloseTo(expected[key].loss, 6);
    }
    const control = await open("second-output-before-site/one_output.onnx");
    const conditions = (m: LesionModel) => [...singles(resolveSite(m, "fc1"), "mean", [0, 1, 2]), condition(resolveSite(m, "fc2"), [0, 1])];
    const a = await ablate(model, subset, { conditions: conditions(model) });
    const b = await ablate(control, subset, { conditions: conditions(control) });
    expect(a.conditions.map((c) => [c.id, c.accuracy, c.loss])).toEqual(b.conditions.map((c) => [c.id, c.accuracy, c.loss]));
  });
});

/**
 * A [1,8,8] CNN: Conv(3) → Relu (site conv1) → Reshape(·, target) → Gemm(4), the target computed by `target` from
 * tensors before the site (and possibly what it reshapes, `flattened`); `extraOutputs` adds graph outputs.
 */
function cnn(target: (nodes: NodeProto[], inits: TensorProto[]) => string, extraOutputs: string[] = [], flattened = "relu"): Uint8Array {
  const rand = random(7);
  const nodes: NodeProto[] = [
    makeNode("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv"], "/conv1/Conv", { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    makeNode("Relu", ["conv"], ["relu"], "/relu/Relu"),
  ];
  const inits: TensorProto[] = [
    makeTensor("conv1.weight", [3, 1, 3, 3], randomArray(27, rand, 0.7)),
    makeTensor("conv1.bias", [3], randomArray(3, rand, 0.2)),
    makeTensor("fc.weight", [4, 192], randomArray(4 * 192, rand, 0.15)),
    makeTensor("fc.bias", [4], randomArray(4, rand, 0.1)),
  ];
  const shape = target(nodes, inits);
  nodes.push(makeNode("Reshape", [flattened, shape], ["flat"], "/flatten/Reshape"), makeNode("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], "/fc/Gemm", { transB: 1 }));
  const graph = onnx.GraphProto.create({
    name: "g",
    node: nodes,
    initializer: inits,
    input: [makeValueInfo("input", DataType.FLOAT, ["N", 1, 8, 8])],
    output: [makeValueInfo("logits", DataType.FLOAT, ["N", 4]), ...extraOutputs.map((o) => makeValueInfo(o, DataType.FLOAT, null))],
  });
  return encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph }));
}

const int64 = (name: string, values: number[]) => makeTensor(name, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));

function images(n: number, seed: number): Dataset {
  const rand = random(seed);
  return {
    spec: `random:${seed}`,
    n,
    shape: [1, 8, 8],
    images: Float32Array.from({ length: n * 64 }, () => rand()),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * 4)),
    numClasses: 4,
    classNames: ["0", "1", "2", "3"],
    source: "test",
  };
}

/** Per condition (units of conv1 zeroed): accuracy and mean cross-entropy of the whole graph, masked, in float64. */
async function direct(bytes: Uint8Array, data: Dataset, conditions: number[][]): Promise<Array<{ accuracy: number; loss: number }>> {
  const session = await createSession(encodeModel(withMasks(decodeModel(bytes), [{ name: "conv1", tensor: "relu", rank: 4, units: 3 }])), 1);
  const results = [];
  for (const units of conditions) {
    const mask = new Float32Array(data.n * 3).fill(1);
    for (let s = 0; s < data.n; s++) for (const u of units) mask[s * 3 + u] = 0;
    const out = await session.run(
      {
        input: new OrtTensor("float32", data.images, [data.n, 1, 8, 8]),
        [maskInputName("conv1")]: new OrtTensor("float32", mask, [data.n, 3, 1, 1]),
        [offsetInputName("conv1")]: new OrtTensor("float32", new Float32Array(data.n * 3), [data.n, 3, 1, 1]),
      },
      ["logits"],
    );
    const z = out.logits.data as Float32Array;
    let correct = 0;
    let loss = 0;
    for (let s = 0; s < data.n; s++) {
      const row = Array.from(z.subarray(s * 4, s * 4 + 4));
      const max = Math.max(...row);
      loss += Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[data.labels[s]];
      correct += row.indexOf(max) === data.labels[s] ? 1 : 0;
    }
    results.push({ accuracy: correct / data.n, loss: loss / data.n });
  }
  return results;
}

describe("suffix graphs built in code", () => {
  const variants: Array<[string, Uint8Array]> = [
    [
      "Shape(input, start=0, end=1) (opset 15+)",
      cnn((nodes, inits) => {
        nodes.push(makeNode("Shape", ["input"], ["batch"], "/Shape", { start: 0, end: 1 }), makeNode("Concat", ["batch", "rest"], ["target"], "/Concat", { axis: 0 }));
        inits.push(int64("rest", [192]));
        return "target";
      }),
    ],
    [
      "Shape(conv) → Gather(0) → Unsqueeze → Concat([b, −1]) (torch.onnx 2.x), with `conv` also a graph output",
      cnn(
        (nodes, inits) => {
          nodes.push(
            makeNode("Shape", ["conv"], ["shape"], "/Shape"),
            makeNode("Gather", ["shape", "zero"], ["b"], "/Gather", { axis: 0 }),
            makeNode("Unsqueeze", ["b", "axes"], ["b1"], "/Unsqueeze"),
            makeNode("Concat", ["b1", "minus1"], ["target"], "/Concat", { axis: 0 }),
          );
          inits.push(makeTensor("zero", [], BigInt64Array.of(0n)), int64("axes", [0]), int64("minus1", [-1]));
          return "target";
        },
        ["conv"],
      ),
    ],
    [
      "Shape(input) for an Expand and a Tile after the site (both to the same shape) before a Flatten-like Reshape",
      cnn(
        (nodes, inits) => {
          nodes.push(
            makeNode("Shape", ["input"], ["shape"], "/Shape"),
            makeNode("Gather", ["shape", "first"], ["b"], "/Gather", { axis: 0 }),
            makeNode("Concat", ["b", "sample"], ["full"], "/Concat", { axis: 0 }),
            makeNode("Expand", ["relu", "full"], ["expanded"], "/Expand"),
            makeNode("Div", ["full", "full"], ["ones"], "/Div"),
            makeNode("Tile", ["expanded", "ones"], ["tiled"], "/Tile"),
            makeNode("Concat", ["b", "minus1"], ["target"], "/Concat2", { axis: 0 }),
          );
          inits.push(int64("first", [0]), int64("sample", [3, 8, 8]), int64("minus1", [-1]));
          return "target";
        },
        [],
        "tiled",
      ),
    ],
  ];
  for (const [name, bytes] of variants) {
    it(`ablate(cnn whose flatten reads ${name}) equals the whole graph masked`, async () => {
      const data = images(200, 3);
      const model = await openModel(bytes, { name: "cnn" });
      try {
        const site = resolveSite(model, "conv1");
        const result = await ablate(model, data, { conditions: [...singles(site), condition(site, [0, 2])] });
        expect(result.engine.conv1).toBe("masked");
        const [intact, ...conditions] = await direct(bytes, data, [[], [0], [1], [2], [0, 2]]);
        expect(result.baseline.accuracy).toBe(intact.accuracy);
        expect(result.baseline.loss).toBeCloseTo(intact.loss, 6);
        result.conditions.forEach((c, i) => {
          expect(c.accuracy).toBe(conditions[i].accuracy);
          expect(c.loss!).toBeCloseTo(conditions[i].loss, 6);
        });
      } finally {
        await closeModel(model);
      }
    });
  }

  it("ablate(a site whose suffix reads an int64 tensor computed from the data) is unsupported-op naming that tensor", async () => {
    const bytes = cnn((nodes, inits) => {
      nodes.push(
        makeNode("ReduceMax", ["input"], ["top"], "/ReduceMax", { keepdims: 0 }),
        makeNode("Mul", ["top", "zerof"], ["nothing"], "/Mul"),
        makeNode("Add", ["nothing", "width"], ["w"], "/Add"),
        makeNode("Cast", ["w"], ["wi"], "/Cast", { to: DataType.INT64 }),
        makeNode("Unsqueeze", ["wi", "axes"], ["w1"], "/Unsqueeze"),
        makeNode("Concat", ["minus1", "w1"], ["target"], "/Concat", { axis: 0 }),
      );
      inits.push(makeTensor("zerof", [], Float32Array.of(0)), makeTensor("width", [], Float32Array.of(192)), int64("axes", [0]), int64("minus1", [-1]));
      return "target";
    });
    const model = await openModel(bytes, { name: "cnn" });
    try {
      const error = await ablate(model, images(10, 1), { conditions: singles(resolveSite(model, "conv1")) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LesionError);
      expect([(error as LesionError).code, (error as LesionError).message]).toEqual([
        "unsupported-op",
        "site conv1: the graph after it reads target, a non-float tensor computed from the data before the site; lesion cannot cache it",
      ]);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate(a site on a branch that only feeds an extra output) is unknown-site: it cannot change a prediction", async () => {
    const rand = random(2);
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [
        makeNode("Flatten", ["input"], ["x"], "/Flatten", { axis: 1 }),
        makeNode("Gemm", ["x", "fc1.weight"], ["h"], "/fc1/Gemm", { transB: 1 }),
        makeNode("Relu", ["h"], ["hr"], "/relu/Relu"),
        makeNode("Gemm", ["hr", "fc2.weight"], ["logits"], "/fc2/Gemm", { transB: 1 }),
        makeNode("Gemm", ["hr", "aux.weight"], ["a"], "/aux/Gemm", { transB: 1 }),
        makeNode("Relu", ["a"], ["features"], "/aux_relu/Relu"),
      ],
      initializer: [makeTensor("fc1.weight", [5, 64], randomArray(320, rand, 0.3)), makeTensor("fc2.weight", [4, 5], randomArray(20, rand)), makeTensor("aux.weight", [3, 5], randomArray(15, rand))],
      input: [makeValueInfo("input", DataType.FLOAT, ["N", 1, 8, 8])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 4]), makeValueInfo("features", DataType.FLOAT, ["N", 3])],
    });
    const bytes = encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph }));
    const model = await openModel(bytes, { name: "aux" });
    try {
      const error = await ablate(model, images(10, 1), { conditions: singles(resolveSite(model, "aux")) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LesionError);
      expect([(error as LesionError).code, (error as LesionError).message]).toEqual([
        "unknown-site",
        "site aux does not feed the classifier output logits; ablating it cannot change a prediction",
      ]);
    } finally {
      await closeModel(model);
    }
  });
});
