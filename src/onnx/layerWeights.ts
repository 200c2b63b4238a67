/** A layer's incoming weights per unit, read from the graph: what weight indicators and weight-change tests use. */
import { transposeMatrix } from "./float64/kernels.js";
import { indexGraph } from "./graph.js";
import { attributeInt, DataType, tensorDims, tensorValues, type ModelProto } from "./proto.js";

export interface LayerWeights {
  /** The weight initializer's name (`fc1.weight`): the key that matches a layer across two models. */
  name: string;
  units: number;
  /** Incoming weights per unit. */
  fanIn: number;
  /** [units × fanIn], row-major: unit u's incoming weights at u·fanIn. */
  weight: Float64Array;
  /** A Conv's weight dims after the output channels ([input channels per group, kh, kw] in 2-D): fanIn is their product. */
  kernel?: number[];
}

/** The incoming weights of the layer node `layer` (Gemm, MatMul or Conv with a constant weight); null otherwise. */
export function layerWeights(model: ModelProto, layer: string): LayerWeights | null {
  const graph = model.graph!;
  const node = (graph.node ?? []).find((n) => n.name === layer);
  if (!node) return null;
  const index = indexGraph(graph);
  const name = node.input?.[1] ?? "";
  const tensor = (graph.initializer ?? []).find((t) => t.name === name);
  if (!tensor || !index.initializers.has(name) || (tensor.dataType !== DataType.FLOAT && tensor.dataType !== DataType.DOUBLE)) return null;
  const values = Float64Array.from(tensorValues(tensor) as Float32Array);
  const dims = tensorDims(tensor);
  switch (node.opType) {
    case "Gemm": {
      if (dims.length !== 2) return null;
      const transposed = attributeInt(node, "transB", 0) === 1;
      return transposed ? { name, units: dims[0], fanIn: dims[1], weight: values } : { name, units: dims[1], fanIn: dims[0], weight: transposeMatrix(values, dims[0], dims[1]) };
    }
    case "MatMul":
      return dims.length === 2 ? { name, units: dims[1], fanIn: dims[0], weight: transposeMatrix(values, dims[0], dims[1]) } : null;
    case "Conv":
      return dims.length >= 3 ? { name, units: dims[0], fanIn: values.length / dims[0], weight: values, kernel: dims.slice(1) } : null;
    default:
      return null;
  }
}
