/**
 * Float64 forward passes of dense chains (MLPs) on onnxruntime: the graph casts the float32 inputs and parameters to
 * double and runs Gemm and the activations in double, so its predictions are the float64 truth (float32 depends on
 * kernel order). Parameters and the unit mask are graph inputs, so one session per layout serves every parameter
 * set and ablation; sessions live in a cache the caller releases.
 */
import { fail } from "../errors.js";
import type { Network } from "../onnx/network.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx, type NodeProto, type TensorProto } from "../onnx/proto.js";
import { createSession, defaultThreads, OrtTensor, type OrtSession } from "./ort.js";

export interface Dense64Cache {
  sessions: Map<string, OrtSession>;
  threads: number;
}

export function dense64Cache(threads = defaultThreads()): Dense64Cache {
  return { sessions: new Map(), threads };
}

export async function releaseDense64(cache: Dense64Cache): Promise<void> {
  for (const session of cache.sessions.values()) await session.release();
  cache.sessions.clear();
}

const maskName = (layer: number) => `mask.${layer}`;

/** Graph of the chain in double, masks after `maskedLayer` (a dense layer index) when given. */
function graphOf(network: Network, maskedLayer: number | null): Uint8Array {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const inputs = [makeValueInfo("x", DataType.FLOAT, ["batch", ...network.inputShape])];
  let count = 0;
  const one = (op: string, args: string[], attributes: Record<string, number> = {}) => {
    const name = `t${count++}`;
    nodes.push(makeNode(op, args, [name], `n${count}/${op}`, attributes));
    return name;
  };
  const double = (name: string) => one("Cast", [name], { to: DataType.DOUBLE });
  let current = double("x");
  network.layers.forEach((layer, i) => {
    switch (layer.op) {
      case "linear": {
        inputs.push(makeValueInfo(`${layer.name}.weight`, DataType.FLOAT, [layer.out, layer.in]));
        const args = [current, double(`${layer.name}.weight`)];
        if (layer.bias) {
          inputs.push(makeValueInfo(`${layer.name}.bias`, DataType.FLOAT, [layer.out]));
          args.push(double(`${layer.name}.bias`));
        }
        current = one("Gemm", args, { transB: 1 });
        break;
      }
      case "relu":
        current = one("Relu", [current]);
        break;
      case "tanh":
        current = one("Tanh", [current]);
        break;
      case "sigmoid":
        current = one("Sigmoid", [current]);
        break;
      case "leakyrelu":
        // LeakyRelu has no double kernel: max(x, 0) + alpha·min(x, 0).
        current = one("Add", [one("Relu", [current]), one("Mul", [one("Neg", [one("Relu", [one("Neg", [current])])]), constant(initializers, `alpha.${i}`, layer.alpha)])]);
        break;
      case "flatten":
        current = one("Flatten", [current], { axis: 1 });
        break;
      case "dropout":
      case "logsoftmax": // monotone: the argmax is the logits'
        break;
      default:
        fail("unsupported-op", `a ${layer.op} layer is out of scope for dense float64 passes (MLPs only)`);
    }
    if (i === maskedLayer) {
      inputs.push(makeValueInfo(maskName(i), DataType.FLOAT, [1, "units"]));
      current = one("Mul", [current, double(maskName(i))]);
    }
  });
  nodes.push(makeNode("Identity", [current], ["logits"], "logits/Identity"));
  const graph = onnx.GraphProto.create({ name: "lesion-dense64", node: nodes, initializer: initializers, input: inputs, output: [makeValueInfo("logits", DataType.DOUBLE, ["batch", "classes"])] });
  return encodeModel(onnx.ModelProto.create({ irVersion: 8, producerName: "lesion", opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph }));
}

function constant(initializers: TensorProto[], name: string, value: number): string {
  initializers.push(makeTensor(name, [], new Float64Array([value])));
  return name;
}

/**
 * Predicted class per sample of a dense chain with the given parameters, in float64; `zeroed` forces the outputs of
 * those units of layer `zeroed.layer` to 0. `inputs`: [n, sample size] preprocessed network inputs.
 */
export async function densePredictions64(cache: Dense64Cache, network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, zeroed: { layer: number; units: number[]; width: number } | null = null): Promise<Int32Array> {
  const key = JSON.stringify([network, zeroed?.layer ?? null]);
  let session = cache.sessions.get(key);
  if (!session) {
    session = await createSession(graphOf(network, zeroed?.layer ?? null), cache.threads);
    cache.sessions.set(key, session);
  }
  const size = inputs.length / n;
  const params: Record<string, OrtTensor> = {};
  for (const layer of network.layers) {
    if (layer.op !== "linear") continue;
    params[`${layer.name}.weight`] = new OrtTensor("float32", values.get(`${layer.name}.weight`)!, [layer.out, layer.in]);
    if (layer.bias) params[`${layer.name}.bias`] = new OrtTensor("float32", values.get(`${layer.name}.bias`)!, [layer.out]);
  }
  if (zeroed) {
    const mask = new Float32Array(zeroed.width).fill(1);
    for (const u of zeroed.units) mask[u] = 0;
    params[maskName(zeroed.layer)] = new OrtTensor("float32", mask, [1, zeroed.width]);
  }
  const predictions = new Int32Array(n);
  const batch = 2048;
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const out = await session.run({ x: new OrtTensor("float32", inputs.subarray(start * size, (start + count) * size), [count, ...network.inputShape]), ...params });
    const logits = out.logits.data as Float64Array;
    const classes = logits.length / count;
    for (let r = 0; r < count; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
      predictions[start + r] = best;
    }
  }
  return predictions;
}
