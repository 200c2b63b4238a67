/**
 * Probability heads (src/onnx/head.ts): a graph ending in Softmax (also behind Identity/Reshape/Flatten/Squeeze) or,
 * for a one-output model, Sigmoid has the loss of its own probabilities, −log p(true class), in eval and on every
 * ablation path (dense closed form, dense tail graph, masked suffix); LogSoftmax stays as it is.
 * References: the case `softmax-output-loss` (issue #13, files in test/fixtures/cases/softmax-output-loss/, float64
 * NumPy values from its make_ablation_reference.py), and for built heads the unmodified graph run by onnxruntime
 * with its probabilities read directly.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { characterize } from "../../src/study/characterize.js";
import { closeModel, hiddenSites, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { LesionError } from "../../src/errors.js";
import { buildClassifier, OUTPUT_NAME, type LayerSpec } from "../../src/onnx/build.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, type ModelProto } from "../../src/onnx/proto.js";
import { maskInputName, offsetInputName, withMasks } from "../../src/onnx/surgery.js";
import { ablate } from "../../src/study/ablate.js";
import { condition, singles } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { info } from "../../src/models/info.js";
import { random, randomArray } from "../helpers.js";

const CASE = (name: string) => fileURLToPath(new URL(`../fixtures/cases/softmax-output-loss/${name}`, import.meta.url));

interface Outcome {
  accuracy: number;
  loss: number;
}

describe("softmax-output-loss (issue #13)", () => {
  let mnist: Dataset;
  let softmax: LesionModel;
  let logits: LesionModel;
  const expected = JSON.parse(readFileSync(CASE("expected.json"), "utf8")) as { accuracy: number; cross_entropy_from_logits: number };
  const reference = JSON.parse(readFileSync(CASE("ablation.reference.json"), "utf8")) as { intact: Outcome; zero: Outcome[]; mean: Outcome[]; "zero 0-7": Outcome };

  beforeAll(async () => {
    mnist = await loadDataset("mnist:test");
    softmax = await openModel(CASE("softmax_mlp.onnx"));
    logits = await openModel(CASE("logits_mlp.onnx"));
  });
  afterAll(async () => {
    await closeModel(softmax);
    await closeModel(logits);
  });

  it("info(softmax_mlp) names the softmax head, info(logits_mlp) logits; the output layer is the logits, not a site ablated as a hidden one", () => {
    expect(info(softmax).head).toBe("softmax");
    expect(info(logits).head).toBe("logits");
    expect(softmax.sites.find((s) => s.name === "0.2")?.tensor).toBe(softmax.outputName);
  });

  it("evaluate(softmax_mlp, mnist:test) has the case's loss 0.360275 (cross-entropy of the network's probabilities), not softmax twice", async () => {
    const result = await evaluate(softmax, mnist);
    expect(result.accuracy).toBe(expected.accuracy);
    expect(result.loss).toBeCloseTo(expected.cross_entropy_from_logits, 8);
  });

  it("ablate(softmax_mlp, singles('0.0')) on the dense engine (tail graph, closed form) equals the float64 reference and logits_mlp's results", async () => {
    const result = await ablate(softmax, mnist, { conditions: singles(resolveSite(softmax, "0.0")) });
    expect(result.engine["0.0"]).toBe("dense");
    expect(result.baseline.loss).toBeCloseTo(reference.intact.loss, 7);
    result.conditions.forEach((c, u) => {
      expect(c.accuracy).toBe(reference.zero[u].accuracy);
      expect(c.loss!).toBeCloseTo(reference.zero[u].loss, 6);
    });
    const control = await ablate(logits, mnist, { conditions: singles(resolveSite(logits, "0")) });
    expect(result.conditions.map((c) => [c.accuracy, c.loss])).toEqual(control.conditions.map((c) => [c.accuracy, c.loss]));
    // Without the loss, the site feeding the output layer takes the closed form.
    const closedForm = await ablate(softmax, mnist, { conditions: singles(resolveSite(softmax, "0.0")), loss: false });
    expect(closedForm.conditions.map((c) => c.accuracy)).toEqual(reference.zero.map((r) => r.accuracy));
  });

  it("ablate(softmax_mlp, mean ablations and a group of 8) on the masked suffix equals the float64 reference", async () => {
    const site = resolveSite(softmax, "0.0");
    const result = await ablate(softmax, mnist, { conditions: [...singles(site, "mean"), condition(site, [0, 1, 2, 3, 4, 5, 6, 7])] });
    // A dense site, but none of these conditions takes the dense path: the result says where they ran.
    expect(result.engine["0.0"]).toBe("masked");
    result.conditions.slice(0, 32).forEach((c, u) => {
      expect(c.accuracy).toBe(reference.mean[u].accuracy);
      expect(c.loss!).toBeCloseTo(reference.mean[u].loss, 5);
    });
    const group = result.conditions[32];
    expect(group.accuracy).toBe(reference["zero 0-7"].accuracy);
    expect(group.loss!).toBeCloseTo(reference["zero 0-7"].loss, 6);
  });
});

/** A 6-5-4 ReLU MLP; `head` appends nodes after its logits and names the graph output. */
function mlp(classes: number, head: (model: ModelProto) => void, seed = 3): Uint8Array {
  const rand = random(seed);
  const layers: LayerSpec[] = [
    { op: "linear", name: "fc1", weight: randomArray(5 * 6, rand, 1.2), shape: [5, 6], bias: randomArray(5, rand, 0.3) },
    { op: "relu" },
    { op: "linear", name: "fc2", weight: randomArray(classes * 5, rand, 1.5), shape: [classes, 5], bias: randomArray(classes, rand, 0.3) },
  ];
  const model = buildClassifier({ layers, inputShape: [6] });
  head(model);
  return encodeModel(model);
}

/** Appends nodes reading OUTPUT_NAME; the last writes `y`, the new graph output of `shape`. */
function append(nodes: Array<ReturnType<typeof makeNode>>, shape: Array<number | string>, initializers: Array<ReturnType<typeof makeTensor>> = []) {
  return (model: ModelProto) => {
    const graph = model.graph!;
    graph.node!.push(...nodes);
    graph.initializer!.push(...initializers);
    graph.output = [makeValueInfo("y", DataType.FLOAT, shape)];
  };
}

function dataset(n: number, classes: number, seed: number): Dataset {
  const rand = random(seed);
  return {
    spec: `random:${seed}`,
    n,
    shape: [1, 1, 6],
    images: Float32Array.from({ length: n * 6 }, () => rand()),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * classes)),
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, i) => String(i)),
    source: "test",
  };
}

/**
 * The unmodified graph (masked at fc1's ReLU by lesion's plain x·mask surgery), run by onnxruntime: per condition
 * (units zeroed, [] for intact) the accuracy and mean −log p(true class) of its own output, read as probabilities
 * (one output: p of class 1).
 */
async function direct(bytes: Uint8Array, data: Dataset, conditions: number[][]): Promise<Outcome[]> {
  const { decodeModel } = await import("../../src/onnx/proto.js");
  const proto = decodeModel(bytes);
  const relu = proto.graph!.node!.find((n) => n.opType === "Relu")!.output![0];
  const session = await createSession(encodeModel(withMasks(proto, [{ name: "fc1", tensor: relu, rank: 2, units: 5 }])), 1);
  const outcomes: Outcome[] = [];
  for (const units of conditions) {
    const mask = new Float32Array(data.n * 5).fill(1);
    for (let s = 0; s < data.n; s++) for (const u of units) mask[s * 5 + u] = 0;
    const out = await session.run({
      input: new OrtTensor("float32", data.images, [data.n, 6]),
      [maskInputName("fc1")]: new OrtTensor("float32", mask, [data.n, 5]),
      [offsetInputName("fc1")]: new OrtTensor("float32", new Float32Array(data.n * 5), [data.n, 5]),
    });
    const p = out.y.data as Float32Array;
    const k = p.length / data.n;
    let correct = 0;
    let loss = 0;
    for (let s = 0; s < data.n; s++) {
      const y = data.labels[s];
      if (k === 1) {
        correct += (p[s] > 0.5 ? 1 : 0) === y ? 1 : 0;
        loss -= Math.log(y === 1 ? p[s] : 1 - p[s]);
      } else {
        let best = 0;
        for (let c = 1; c < k; c++) if (p[s * k + c] > p[s * k + best]) best = c;
        correct += best === y ? 1 : 0;
        loss -= Math.log(p[s * k + y]);
      }
    }
    outcomes.push({ accuracy: correct / data.n, loss: loss / data.n });
  }
  return outcomes;
}

describe("probability heads built in code", () => {
  const softmaxHeads: Array<[string, Uint8Array]> = [
    ["Softmax", mlp(4, append([makeNode("Softmax", [OUTPUT_NAME], ["y"], "/softmax/Softmax", { axis: 1 })], ["batch", 4]))],
    [
      "Reshape → Softmax(axis −1) → Squeeze",
      mlp(
        4,
        append(
          [
            makeNode("Reshape", [OUTPUT_NAME, "shape"], ["r"], "/r/Reshape"),
            makeNode("Softmax", ["r"], ["p"], "/softmax/Softmax", { axis: -1 }),
            makeNode("Squeeze", ["p", "axes"], ["y"], "/squeeze/Squeeze"),
          ],
          ["batch", 4],
          [makeTensor("shape", [3], BigInt64Array.of(0n, 1n, 4n)), makeTensor("axes", [1], BigInt64Array.of(1n))],
        ),
      ),
    ],
    [
      "Softmax → Flatten → Identity",
      mlp(
        4,
        append(
          [
            makeNode("Softmax", [OUTPUT_NAME], ["p"], "/softmax/Softmax", { axis: 1 }),
            makeNode("Flatten", ["p"], ["f"], "/flatten/Flatten", { axis: 1 }),
            makeNode("Identity", ["f"], ["y"], "/identity/Identity"),
          ],
          ["batch", 4],
        ),
      ),
    ],
    [
      "Softmax → Cast(float) (float16 conversions with keep_io_types end so)",
      mlp(
        4,
        append(
          [makeNode("Softmax", [OUTPUT_NAME], ["p"], "/softmax/Softmax", { axis: 1 }), makeNode("Cast", ["p"], ["y"], "/cast/Cast", { to: DataType.FLOAT })],
          ["batch", 4],
        ),
      ),
    ],
  ];

  for (const [name, bytes] of softmaxHeads) {
    it(`evaluate and ablate a graph ending in ${name}: the loss is −log p(true class) of its own output, intact and per unit`, async () => {
      const data = dataset(300, 4, 11);
      const model = await openModel(bytes, { name });
      try {
        expect(info(model).head).toBe("softmax");
        const [intact, ...units] = await direct(bytes, data, [[], [0], [1], [2], [3], [4]]);
        const evaluated = await evaluate(model, data);
        expect(evaluated.accuracy).toBe(intact.accuracy);
        expect(evaluated.loss).toBeCloseTo(intact.loss, 6);
        for (const mode of ["zero", "mean"] as const) {
          // zero: the dense engine where the graph ends in the Softmax itself, else the masked suffix; mean: the suffix.
          const result = await ablate(model, data, { conditions: singles(resolveSite(model, "fc1"), mode) });
          expect(result.baseline.loss).toBeCloseTo(intact.loss, 6);
          if (mode === "zero") {
            result.conditions.forEach((c, u) => {
              expect(c.accuracy).toBe(units[u].accuracy);
              expect(c.loss!).toBeCloseTo(units[u].loss, 6);
            });
          }
        }
      } finally {
        await closeModel(model);
      }
    });
  }

  it("a one-output Sigmoid head is two classes: prediction p > 0.5, loss the binary cross-entropy, intact and per unit", async () => {
    for (const shape of [["batch", 1], ["batch"]] as Array<Array<number | string>>) {
      const nodes = [makeNode("Sigmoid", [OUTPUT_NAME], [shape.length === 1 ? "p" : "y"], "/sigmoid/Sigmoid")];
      if (shape.length === 1) nodes.push(makeNode("Squeeze", ["p", "axes"], ["y"], "/squeeze/Squeeze"));
      const bytes = mlp(1, append(nodes, shape, shape.length === 1 ? [makeTensor("axes", [1], BigInt64Array.of(1n))] : []), 5);
      const data = dataset(300, 2, 13);
      const model = await openModel(bytes, { name: "sigmoid" });
      try {
        expect([info(model).head, model.numClasses]).toEqual(["sigmoid", 2]);
        expect(model.sites.map((s) => s.name)).toEqual(["fc1", "fc2"]);
        // fc2, the one score behind the Sigmoid, is the output: studies leave it out by default (it crashed their clustering).
        expect(hiddenSites(model).map((s) => s.name)).toEqual(["fc1"]);
        const [intact, ...units] = await direct(bytes, data, [[], [0], [1], [2], [3], [4]]);
        const evaluated = await evaluate(model, data);
        expect(evaluated.accuracy).toBe(intact.accuracy);
        expect(evaluated.loss).toBeCloseTo(intact.loss, 6);
        const result = await ablate(model, data, { conditions: singles(resolveSite(model, "fc1")) });
        // Not a dense chain (the head is rewritten), but fc1 feeds a Gemm: the delta path's delta.
        expect(result.engine.fc1).toBe("delta");
        result.conditions.forEach((c, u) => {
          expect(c.accuracy).toBe(units[u].accuracy);
          expect(c.loss!).toBeCloseTo(units[u].loss, 6);
        });
      } finally {
        await closeModel(model);
      }
    }
  });

  it("a one-output graph without a Sigmoid (BCEWithLogitsLoss's model) is two classes, as its Sigmoid twin: class 1 where z > 0, loss the binary cross-entropy; its output site is no hidden site", async () => {
    const logit = mlp(1, append([makeNode("Identity", [OUTPUT_NAME], ["y"], "/id/Identity")], ["batch", 1]), 5);
    const twin = mlp(1, append([makeNode("Sigmoid", [OUTPUT_NAME], ["y"], "/sigmoid/Sigmoid")], ["batch", 1]), 5);
    const data = dataset(300, 2, 13);
    const model = await openModel(logit, { name: "one-logit" });
    try {
      expect([info(model).head, model.numClasses]).toEqual(["one-logit", 2]);
      // fc2 is the output layer (its one logit): not a hidden site.
      expect([model.sites.map((s) => s.name), hiddenSites(model).map((s) => s.name)]).toEqual([["fc1", "fc2"], ["fc1"]]);
      const [intact, ...units] = await direct(twin, data, [[], [0], [1]]);
      const evaluated = await evaluate(model, data);
      expect(evaluated.accuracy).toBe(intact.accuracy);
      expect(evaluated.loss).toBeCloseTo(intact.loss, 6);
      const result = await ablate(model, data, { conditions: singles(resolveSite(model, "fc1")).slice(0, 2) });
      result.conditions.forEach((c, u) => {
        expect(c.accuracy).toBe(units[u].accuracy);
        expect(c.loss!).toBeCloseTo(units[u].loss, 6);
      });
      // Asked for by name, a 1-unit site is refused in one line: there is nothing to group into populations.
      await expect(characterize(model, data, { sites: ["fc2"], map: false })).rejects.toMatchObject({ code: "bad-option", message: "`sites`: fc2 has 1 active unit; functional populations need at least 3 (leave it out of `sites`)" });
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(graph with outputs [softmax(z), z]) reads the first back to z and keeps both outputs distinct", async () => {
    const bytes = mlp(4, (model) => {
      append([makeNode("Softmax", [OUTPUT_NAME], ["y"], "/softmax/Softmax", { axis: 1 })], ["batch", 4])(model);
      model.graph!.output!.push(makeValueInfo(OUTPUT_NAME, DataType.FLOAT, ["batch", 4]));
    });
    const data = dataset(100, 4, 17);
    const model = await openModel(bytes, { name: "both" });
    try {
      expect(info(model).head).toBe("softmax");
      expect(model.proto.graph!.output!.map((o) => o.name)).toEqual(["y", OUTPUT_NAME]);
      const [intact] = await direct(bytes, data, [[]]);
      expect((await evaluate(model, data)).loss).toBeCloseTo(intact.loss, 6);
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(graph ending in LogSoftmax) keeps it: info says log-softmax", async () => {
    const bytes = mlp(4, append([makeNode("LogSoftmax", [OUTPUT_NAME], ["y"], "/logsoftmax/LogSoftmax", { axis: 1 })], ["batch", 4]));
    const model = await openModel(bytes, { name: "logsoftmax" });
    try {
      expect(info(model).head).toBe("log-softmax");
      expect(model.proto.graph!.node!.some((n) => n.opType === "LogSoftmax")).toBe(true);
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(graph whose Softmax normalises over part of the classes) is bad-model naming the axis and shape", async () => {
    const bytes = mlp(
      4,
      append(
        [
          makeNode("Reshape", [OUTPUT_NAME, "shape"], ["r"], "/r/Reshape"),
          makeNode("Softmax", ["r"], ["p"], "/softmax/Softmax", { axis: -1 }),
          makeNode("Flatten", ["p"], ["y"], "/flatten/Flatten", { axis: 1 }),
        ],
        ["batch", 4],
        [makeTensor("shape", [3], BigInt64Array.of(0n, 2n, 2n))],
      ),
    );
    const error = await openModel(bytes, { name: "halves.onnx" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LesionError);
    expect([(error as LesionError).code, (error as LesionError).message]).toEqual([
      "bad-model",
      "halves.onnx ends in a Softmax over axis -1 of [1, 2, 2], not over its 4 classes; lesion cannot read its output as class probabilities",
    ]);
  });
});
