/**
 * The graph the dense sweep runs per chunk of rows (src/engine/sweep/denseSweep.ts): each row starts from the cached
 * pre-activation of the layer after the site, adds the rank-k correction of its zeroed units and runs the rest of the
 * chain; out come the logits, the intact class's logit and the largest other one, and with loss the cross-entropy.
 */
import { buildClassifier, INPUT_NAME, OUTPUT_NAME, type LayerSpec } from "../../onnx/build.js";
import type { DenseChain } from "../../onnx/chain.js";
import { transposeMatrix } from "../../onnx/float64/kernels.js";
import { DataType, makeNode, makeTensor, makeValueInfo, type ModelProto } from "../../onnx/proto.js";

export const NEXT_INPUT = "next";
export const ROWS_INPUT = "rows";
export const TARGETS_INPUT = "targets";
export const LABELS_INPUT = "labels";
export const LOSS_OUTPUT = "loss";
export const TOP_OUTPUT = "top";
export const RUNNER_UP_OUTPUT = "runner_up";
export const activationInput = (slot: number) => `h${slot}`;
export const weightsInput = (slot: number) => `weights${slot}`;

/**
 * Per row: the sample's cached pre-activation of layer l+1 (gathered by ROWS_INPUT) minus Σ_i h_i·W_{l+1}[:, u_i]
 * over the row's `slots` units (activations and weight rows given per slot), then ReLU and the remaining layers.
 */
export function tailModel(chain: DenseChain, siteLayer: number, slots: number, loss: boolean): ModelProto {
  const from = siteLayer + 1;
  const site = chain.layers[siteLayer];
  const next = chain.layers[from];
  const layers: LayerSpec[] = [];
  for (let j = from; j < chain.layers.length; j++) {
    const layer = chain.layers[j];
    if (j > from) layers.push({ op: "linear", name: `layer${j}`, weight: Float32Array.from(layer.weight), shape: [layer.out, layer.in], bias: layer.bias ? Float32Array.from(layer.bias) : null });
    if (layer.activation === "relu") layers.push({ op: "relu" });
  }
  const model = buildClassifier({ layers, inputShape: [next.out] });
  const graph = model.graph!;
  // W_{l+1}ᵀ with one zero row appended for padding slots.
  const columns = new Float32Array((site.out + 1) * next.out);
  columns.set(transposeMatrix(next.weight, next.out, site.out));
  graph.initializer!.push(makeTensor("lesion.columns", [site.out + 1, next.out], columns));
  // Per slot i: −h_i (the row's site activation, negated, given) times that unit's weight column, added to the
  // cached pre-activation. One [rows, width] product per slot ran faster than a [rows, slots, width] one.
  const terms = Array.from({ length: slots }, (_, i) => [
    makeNode("Gather", ["lesion.columns", weightsInput(i)], [`lesion.w${i}`], `lesion/gather/w${i}`, { axis: 0 }),
    makeNode("Mul", [activationInput(i), `lesion.w${i}`], [`lesion.term${i}`], `lesion/mul/term${i}`),
  ]).flat();
  graph.node!.unshift(
    makeNode("Gather", [NEXT_INPUT, ROWS_INPUT], ["lesion.next_rows"], "lesion/gather/next", { axis: 0 }),
    ...terms,
    // A chain of Adds: a variadic Sum of three ran slower than two Adds. Where the site feeds the output layer, the
    // sum is the logits.
    ...Array.from({ length: slots }, (_, i) =>
      makeNode("Add", [i === 0 ? "lesion.next_rows" : `lesion.sum${i - 1}`, `lesion.term${i}`], [i < slots - 1 ? `lesion.sum${i}` : layers.length > 0 ? INPUT_NAME : OUTPUT_NAME], `lesion/add/term${i}`),
    ),
  );
  // The intact prediction's logit and the largest other one: JS reads two numbers per row, not k.
  const k = chain.layers[chain.layers.length - 1].out;
  graph.initializer!.push(makeTensor("lesion.classes", [1, k], Int32Array.from({ length: k }, (_, c) => c)), makeTensor("lesion.lowest", [1], Float32Array.of(-3.4e38)));
  graph.node!.push(
    makeNode("GatherElements", [OUTPUT_NAME, TARGETS_INPUT], [TOP_OUTPUT], "lesion/gather/top", { axis: 1 }),
    makeNode("Equal", ["lesion.classes", TARGETS_INPUT], ["lesion.is_target"], "lesion/equal/target"),
    makeNode("Where", ["lesion.is_target", "lesion.lowest", OUTPUT_NAME], ["lesion.others"], "lesion/where/others"),
    makeNode("ReduceMax", ["lesion.others"], [RUNNER_UP_OUTPUT], "lesion/max/others", { axes: [1], keepdims: 1 }),
  );
  graph.output!.push(makeValueInfo(TOP_OUTPUT, DataType.FLOAT, ["rows", 1]), makeValueInfo(RUNNER_UP_OUTPUT, DataType.FLOAT, ["rows", 1]));
  if (loss) {
    // Cross-entropy per row (float32, from the same logits), so JS does not take k exponentials per row.
    graph.node!.push(
      makeNode("LogSoftmax", [OUTPUT_NAME], ["lesion.log_probabilities"], "lesion/logsoftmax", { axis: 1 }),
      makeNode("GatherElements", ["lesion.log_probabilities", LABELS_INPUT], ["lesion.log_likelihood"], "lesion/gather/label", { axis: 1 }),
      makeNode("Neg", ["lesion.log_likelihood"], [LOSS_OUTPUT], "lesion/neg/loss"),
    );
    graph.output!.push(makeValueInfo(LOSS_OUTPUT, DataType.FLOAT, ["rows", 1]));
  }
  graph.input = [
    ...(loss ? [makeValueInfo(LABELS_INPUT, DataType.INT32, ["rows", 1])] : []),
    makeValueInfo(TARGETS_INPUT, DataType.INT32, ["rows", 1]),
    makeValueInfo(NEXT_INPUT, DataType.FLOAT, ["samples", next.out]),
    makeValueInfo(ROWS_INPUT, DataType.INT32, ["rows"]),
    ...Array.from({ length: slots }, (_, i) => makeValueInfo(activationInput(i), DataType.FLOAT, ["rows", 1])),
    ...Array.from({ length: slots }, (_, i) => makeValueInfo(weightsInput(i), DataType.INT32, ["rows"])),
  ];
  return model;
}
