/**
 * Exporters often freeze the batch size (a graph traced with one sample has input [1, …] and Reshape shapes
 * [1, …]). lesion batches every run, so it makes the first axis of the inputs and outputs symbolic and turns a
 * constant Reshape target whose first entry is that fixed size into 0 ("copy the input's first axis"). With
 * `allowzero=1` (PyTorch 2.x) a 0 is a literal zero, so the batch entry becomes -1 instead ("infer it") where no
 * other entry is -1, else allowzero is turned off (the target then has no literal zero: ONNX forbids 0 beside -1
 * under allowzero=1).
 */
import { constantTensors, indexGraph } from "./graph.js";
import { attributeInt, DataType, makeTensor, tensorDims, tensorValues, toInt, type ModelProto, type ValueInfoProto } from "./proto.js";

/** Returns the fixed batch size of the graph's first real input, or null when it is already symbolic. */
export function fixedBatchSize(model: ModelProto): number | null {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const input = (graph.input ?? []).find((i) => i.name === index.inputs[0]);
  const first = input?.type?.tensorType?.shape?.dim?.[0];
  if (!first || first.dimParam || first.dimValue === null || first.dimValue === undefined) return null;
  return toInt(first.dimValue);
}

/** Makes the batch axis symbolic in place. Returns whether anything changed. */
export function makeBatchDynamic(model: ModelProto): boolean {
  const fixed = fixedBatchSize(model);
  if (fixed === null) return false;
  const graph = model.graph!;
  const index = indexGraph(graph);
  const symbolic = (info: ValueInfoProto) => {
    const dim = info.type?.tensorType?.shape?.dim?.[0];
    if (dim) {
      dim.dimValue = null as unknown as undefined;
      dim.dimParam = "batch";
    }
  };
  for (const info of graph.input ?? []) if (index.inputs.includes(info.name ?? "")) symbolic(info);
  for (const info of graph.output ?? []) symbolic(info);
  // Intermediate shapes recorded by the exporter would contradict the new batch size; onnxruntime re-infers them.
  graph.valueInfo = [];
  const constants = constantTensors(graph);
  for (const node of graph.node ?? []) {
    if (node.opType !== "Reshape") continue;
    const shapeName = node.input?.[1] ?? "";
    const shape = constants.get(shapeName);
    if (!shape || shape.dataType !== DataType.INT64) continue;
    const values = tensorValues(shape) as BigInt64Array;
    if (values.length === 0 || Number(values[0]) !== fixed) continue;
    const rewritten = BigInt64Array.from(values);
    const rest = Array.from(values.subarray(1), Number);
    const allowzero = attributeInt(node, "allowzero", 0) === 1;
    // allowzero=1 with a literal 0 targets an empty tensor (and ONNX forbids 0 beside -1 then): no batch to free.
    if (allowzero && rest.includes(0)) continue;
    // allowzero=0: 0 copies the input's first axis. With allowzero=1, -1 infers the batch where no other entry
    // infers; otherwise allowzero is dropped (the target has no literal zero, so nothing else changes) and 0 copies.
    const infer = allowzero && !rest.includes(-1);
    rewritten[0] = infer ? -1n : 0n;
    if (allowzero && !infer) node.attribute = (node.attribute ?? []).filter((a) => a.name !== "allowzero");
    const name = `${shapeName}__batch`;
    graph.initializer!.push(makeTensor(name, tensorDims(shape), rewritten));
    node.input![1] = name;
  }
  return true;
}

