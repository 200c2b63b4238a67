/**
 * The graph the dense sweep runs per chunk of rows (src/engine/sweep/denseSweep.ts): each row starts from the cached
 * pre-activation of the layer after the site, adds the correction of its zeroed units and runs the rest of the chain;
 * out come the logits and, with loss, the log-probabilities and logits at each row's label and intact prediction.
 */
import { buildClassifier, INPUT_NAME, OUTPUT_NAME, type LayerSpec } from "../../onnx/build.js";
import type { DenseChain } from "../../onnx/chain.js";
import { transposeMatrix } from "../../onnx/float64/kernels.js";
import { DataType, makeNode, makeTensor, makeValueInfo, type ModelProto } from "../../onnx/proto.js";

export const NEXT_INPUT = "next";
export const ROWS_INPUT = "rows";
export const CLASSES_INPUT = "classes";
export const LOG_PROBABILITIES_OUTPUT = "log_probabilities";
export const CLASS_LOGITS_OUTPUT = "class_logits";
export const ACTIVATIONS_INPUT = "activations";
export const UNITS_INPUT = "units";

/**
 * A chunk's graph, for chunks whose rows zero at most `slots` distinct units of the site between them (a few
 * conditions: all rows of a condition share its units). Inputs: NEXT_INPUT [samples, width] the cached
 * pre-activations of layer l+1, ROWS_INPUT [rows] each row's sample, UNITS_INPUT [slots] the chunk's units (the site's
 * width for an unused slot: a zero weight row), ACTIVATIONS_INPUT [rows, slots] each row's −h_u in its units' slots and
 * 0 elsewhere, with loss CLASSES_INPUT [samples, 2] each sample's label and intact prediction. Per row:
 * next[sample] + activations·W_{l+1}[:, units]ᵀ, then ReLU and the remaining layers; out come the logits [rows, k]
 * and, with loss, LOG_PROBABILITIES_OUTPUT [rows, 2] the log-softmax at the row's label (−cross-entropy) and at its
 * intact prediction, and CLASS_LOGITS_OUTPUT [rows, 2] the logits there (a run may fetch these two alone).
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
  // W_{l+1}ᵀ with one zero row appended for unused slots.
  const columns = new Float32Array((site.out + 1) * next.out);
  columns.set(transposeMatrix(next.weight, next.out, site.out));
  graph.initializer!.push(makeTensor("lesion.columns", [site.out + 1, next.out], columns));
  // The correction as one [rows, slots] × [slots, width] product added to the gathered rows: three passes over a
  // [rows, width] tensor where a Gather, Mul and Add per unit took seven for two units. On one 12,288-row run of
  // mlp100x3's h1 graph with loss (and the runner-up ops moved to JS), 1,019 → 523 ns per row (min of 5, loaded
  // machine); a Gemm with the gathered rows as C ran slower than MatMul and Add.
  graph.node!.unshift(
    makeNode("Gather", [NEXT_INPUT, ROWS_INPUT], ["lesion.next_rows"], "lesion/gather/next", { axis: 0 }),
    makeNode("Gather", ["lesion.columns", UNITS_INPUT], ["lesion.columns_of_units"], "lesion/gather/columns", { axis: 0 }),
    makeNode("MatMul", [ACTIVATIONS_INPUT, "lesion.columns_of_units"], ["lesion.correction"], "lesion/matmul/correction"),
    // Where the site feeds the output layer, the sum is the logits.
    makeNode("Add", ["lesion.next_rows", "lesion.correction"], [layers.length > 0 ? INPUT_NAME : OUTPUT_NAME], "lesion/add/correction"),
  );
  if (loss) {
    // Cross-entropy per row (float32, from the same logits), so JS does not take k exponentials per row; and the log
    // probability of the intact prediction, which shows most rows' decision clear without reading their k logits
    // (denseTail.ts, readClear). A ReduceLogSumExp less the label's logit ran slower than LogSoftmax.
    graph.node!.push(
      makeNode("Gather", [CLASSES_INPUT, ROWS_INPUT], ["lesion.row_classes"], "lesion/gather/classes", { axis: 0 }),
      makeNode("LogSoftmax", [OUTPUT_NAME], ["lesion.log_softmax"], "lesion/logsoftmax", { axis: 1 }),
      makeNode("GatherElements", ["lesion.log_softmax", "lesion.row_classes"], [LOG_PROBABILITIES_OUTPUT], "lesion/gather/log_probabilities", { axis: 1 }),
      makeNode("GatherElements", [OUTPUT_NAME, "lesion.row_classes"], [CLASS_LOGITS_OUTPUT], "lesion/gather/class_logits", { axis: 1 }),
    );
    graph.output!.push(makeValueInfo(LOG_PROBABILITIES_OUTPUT, DataType.FLOAT, ["rows", 2]), makeValueInfo(CLASS_LOGITS_OUTPUT, DataType.FLOAT, ["rows", 2]));
  }
  graph.input = [
    ...(loss ? [makeValueInfo(CLASSES_INPUT, DataType.INT32, ["samples", 2])] : []),
    makeValueInfo(NEXT_INPUT, DataType.FLOAT, ["samples", next.out]),
    makeValueInfo(ROWS_INPUT, DataType.INT32, ["rows"]),
    makeValueInfo(ACTIVATIONS_INPUT, DataType.FLOAT, ["rows", slots]),
    makeValueInfo(UNITS_INPUT, DataType.INT32, [slots]),
  ];
  return model;
}
