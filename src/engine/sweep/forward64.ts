/** The dense chain in float64, for the rows whose float32 logits nearly tie (src/engine/sweep/logits.ts). */
import type { DenseChain, DenseLayer } from "../../onnx/chain.js";
import { transposeMatrix } from "../../onnx/float64/kernels.js";
import { DataType, makeNode, makeTensor, makeValueInfo, onnx, type ModelProto, type NodeProto } from "../../onnx/proto.js";
import { getSession, type LesionModel } from "../model.js";
import { OrtTensor } from "../ort.js";
import { dot } from "./dot.js";
import { decide } from "./logits.js";

/**
 * Fills `cache` (as forward64 keeps it: every layer's float64 activations per sample) for the `samples` it lacks, in
 * one onnxruntime run of the chain in float64 (MatMul, Add and Relu on doubles) instead of a JS loop per sample: a
 * sweep's near ties are settled in a batch, ~50× faster on a 784-wide first layer.
 */
export async function exactActivations(model: LesionModel, chain: DenseChain, inputs: Float32Array, samples: Iterable<number>, cache: Map<number, Float64Array[]>): Promise<void> {
  const missing = [...new Set(samples)].filter((s) => !cache.has(s));
  if (missing.length === 0) return;
  const width = chain.layers[0].in;
  const x = new Float64Array(missing.length * width);
  missing.forEach((s, r) => x.set(inputs.subarray(s * width, (s + 1) * width), r * width));
  const session = await getSession(model, "dense:float64", () => chainGraph64(chain));
  const out = await session.run({ x: new OrtTensor("float64", x, [missing.length, width]) });
  missing.forEach((s, r) =>
    cache.set(
      s,
      chain.layers.map((layer, j) => Float64Array.from((out[`a${j}`].data as Float64Array).subarray(r * layer.out, (r + 1) * layer.out))),
    ),
  );
}

/** The chain as a float64 graph: input `x` [rows, in], output `a${j}` per layer (after its ReLU where it has one). */
function chainGraph64(chain: DenseChain): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers = chain.layers.flatMap((layer, j) => [
    makeTensor(`w${j}`, [layer.in, layer.out], transposeMatrix(layer.weight, layer.out, layer.in)),
    ...(layer.bias ? [makeTensor(`b${j}`, [layer.out], Float64Array.from(layer.bias))] : []),
  ]);
  chain.layers.forEach((layer, j) => {
    const from = j === 0 ? "x" : `a${j - 1}`;
    let value = `m${j}`;
    nodes.push(makeNode("MatMul", [from, `w${j}`], [value], `matmul${j}`));
    if (layer.bias) nodes.push(makeNode("Add", [value, `b${j}`], [(value = `z${j}`)], `add${j}`));
    nodes.push(layer.activation === "relu" ? makeNode("Relu", [value], [`a${j}`], `relu${j}`) : makeNode("Identity", [value], [`a${j}`], `identity${j}`));
  });
  const graph = onnx.GraphProto.create({
    name: "lesion-float64",
    node: nodes,
    initializer: initializers,
    input: [makeValueInfo("x", DataType.DOUBLE, ["rows", chain.layers[0].in])],
    output: chain.layers.map((layer, j) => makeValueInfo(`a${j}`, DataType.DOUBLE, ["rows", layer.out])),
  });
  return onnx.ModelProto.create({ irVersion: 8, producerName: "lesion", opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph });
}

/**
 * The chain in float64 from the (float32) input, with `units` of layer `siteLayer` zeroed after it (siteLayer −1:
 * intact). The intact float64 activations of a sample are kept in `cache`, so a recheck runs only the layers after
 * the site.
 */
export function forward64(chain: DenseChain, inputs: Float32Array, sample: number, siteLayer: number, units: readonly number[], cache?: Map<number, Float64Array[]>): Float64Array {
  let activations = cache?.get(sample);
  if (!activations) {
    const width = chain.layers[0].in;
    let x: Float64Array = Float64Array.from(inputs.subarray(sample * width, (sample + 1) * width));
    activations = chain.layers.map((layer) => (x = dense64(layer, x)));
    cache?.set(sample, activations);
  }
  if (siteLayer < 0) return activations[activations.length - 1];
  let x: Float64Array = Float64Array.from(activations[siteLayer]);
  for (const u of units) x[u] = 0;
  for (let j = siteLayer + 1; j < chain.layers.length; j++) x = dense64(chain.layers[j], x);
  return x;
}

function dense64(layer: DenseLayer, x: Float64Array): Float64Array {
  const { weight, bias, in: width } = layer;
  const relu = layer.activation === "relu";
  const y = new Float64Array(layer.out);
  for (let o = 0; o < layer.out; o++) {
    const sum = (bias ? bias[o] : 0) + dot(weight, o * width, x, 0, width);
    y[o] = relu ? Math.max(sum, 0) : sum;
  }
  return y;
}

/** The prediction from float64 logits: exact, ties toward the lower class. */
export function exactPrediction(logits: Float64Array): number {
  const d = decide(logits);
  return d < 0 ? -1 - d : d;
}
