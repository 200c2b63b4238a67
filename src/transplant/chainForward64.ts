/**
 * The float64 forward pass every accuracy and activation of a transplant is measured with (src/transplant/transplant.ts):
 * a chain of linear and conv layers with their activations, pooling and flatten, in plain JS float64 (onnxruntime has
 * no double Conv). Conv and pooling are the float64 interpreter's kernels (src/onnx/float64/window.ts), read from the
 * ONNX specification; linear layers are `dense` below.
 */
import { fail } from "../errors.js";
import { argmax } from "../engine/metrics.js";
import { batchNorm } from "../onnx/float64/kernels.js";
import { conv, globalAveragePool, pool, type WindowAttributes } from "../onnx/float64/window.js";
import { layerShapes, type Network } from "../onnx/network.js";

/** Samples per pass of `chainPredictions64`: a conv layer's output of 16 channels of 28×28 takes 25 MB per 256. */
const BATCH = 256;

/**
 * Float64 forward pass of a chain, layers `from`..`to` (inclusive), over `input` ([n, ...], the input of layer
 * `from`); `zeroed` maps a layer index to units whose outputs are forced to 0 (a conv layer's unit is a channel: every
 * position of it). Returns the output of layer `to` and its shape per sample. Batch norm normalises with its running
 * statistics. Throws `unsupported-op` for a layer other than linear, conv, batch norm, the elementwise activations,
 * max/average/global average pooling, flatten, dropout and log-softmax.
 */
export function chainForward64(network: Network, values: Map<string, Float32Array>, input: Float32Array | Float64Array, n: number, zeroed: Record<number, number[]> = {}, from = 0, to = network.layers.length - 1): { output: Float64Array; shape: number[] } {
  const shapes = layerShapes(network);
  let shape = from === 0 ? network.inputShape : shapes[from - 1];
  let current: Float64Array = Float64Array.from(input);
  for (let i = from; i <= to; i++) {
    const layer = network.layers[i];
    const width = shape.reduce((a, b) => a * b, 1);
    switch (layer.op) {
      case "linear":
        current = dense(current, n, width, values.get(`${layer.name}.weight`)!, layer.bias ? values.get(`${layer.name}.bias`)! : null, layer.out);
        break;
      case "conv": {
        const weight = { dims: [layer.out, layer.in, layer.kernel, layer.kernel], data: Float64Array.from(values.get(`${layer.name}.weight`)!) };
        const bias = layer.bias ? { dims: [layer.out], data: Float64Array.from(values.get(`${layer.name}.bias`)!) } : undefined;
        current = conv({ dims: [n, ...shape], data: current }, weight, bias, 1, window(layer.kernel, layer.stride, layer.padding)).data;
        break;
      }
      case "maxpool":
      case "avgpool":
        current = pool({ dims: [n, ...shape], data: current }, layer.op === "maxpool" ? "max" : "average", window(layer.kernel, layer.stride, layer.padding ?? 0), false).data;
        break;
      case "globalavgpool":
        current = globalAveragePool({ dims: [n, ...shape], data: current }).data;
        break;
      case "batchnorm": {
        // Evaluation: the running statistics (a transplant trains with them frozen).
        const of = (key: string) => ({ dims: [layer.channels], data: Float64Array.from(values.get(`${layer.name}.${key}`)!) });
        current = batchNorm({ dims: [n, ...shape], data: current }, of("weight"), of("bias"), of("running_mean"), of("running_var"), layer.eps).data;
        break;
      }
      case "relu":
        for (let k = 0; k < current.length; k++) if (current[k] < 0) current[k] = 0;
        break;
      case "leakyrelu":
        for (let k = 0; k < current.length; k++) if (current[k] < 0) current[k] *= layer.alpha;
        break;
      case "tanh":
        for (let k = 0; k < current.length; k++) current[k] = Math.tanh(current[k]);
        break;
      case "sigmoid":
        for (let k = 0; k < current.length; k++) current[k] = 1 / (1 + Math.exp(-current[k]));
        break;
      case "flatten":
      case "dropout":
        break;
      case "logsoftmax": {
        for (let s = 0; s < n; s++) {
          let max = -Infinity;
          for (let c = 0; c < width; c++) max = Math.max(max, current[s * width + c]);
          let sum = 0;
          for (let c = 0; c < width; c++) sum += Math.exp(current[s * width + c] - max);
          for (let c = 0; c < width; c++) current[s * width + c] -= max + Math.log(sum);
        }
        break;
      }
      default:
        fail("unsupported-op", `transplant handles chains of linear and conv layers; a ${layer.op} layer is out of scope`);
    }
    shape = shapes[i];
    zeroUnits(current, n, shape, zeroed[i] ?? []);
  }
  return { output: current, shape };
}

/**
 * Sets `units` of every one of the n samples of `values` ([n, ...shape]) to 0 in place: a unit is a feature of a flat
 * output, a channel (all its positions) of an image-shaped one.
 */
export function zeroUnits(values: Float64Array, n: number, shape: readonly number[], units: readonly number[]): void {
  if (units.length === 0) return;
  const plane = shape.slice(1).reduce((a, b) => a * b, 1);
  const size = shape[0] * plane;
  for (let s = 0; s < n; s++) for (const u of units) values.fill(0, s * size + u * plane, s * size + (u + 1) * plane);
}

/**
 * `chainForward64` from the input to layer `to`, BATCH samples at a time (a conv network's activations of a whole
 * data set need not fit in memory): `each` gets every batch's output ([count, ...shape]) and its first sample.
 */
export function forBatches64(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, to: number, each: (output: Float64Array, start: number, count: number, shape: number[]) => void, zeroed: Record<number, number[]> = {}): void {
  const size = inputs.length / n;
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const { output, shape } = chainForward64(network, values, inputs.subarray(start * size, (start + count) * size), count, zeroed, 0, to);
    each(output, start, count, shape);
  }
}

/**
 * The predicted class per sample of a chain in float64 (argmax of the logits, first index on ties); `zeroed` as in
 * `chainForward64`. `inputs`: [n, sample size] preprocessed network inputs.
 */
export function chainPredictions64(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, zeroed: Record<number, number[]> = {}): Int32Array {
  const predictions = new Int32Array(n);
  forBatches64(network, values, inputs, n, network.layers.length - 1, (output, start, count) => {
    const classes = output.length / count;
    for (let r = 0; r < count; r++) predictions[start + r] = argmax(output.subarray(r * classes, (r + 1) * classes));
  }, zeroed);
  return predictions;
}

/**
 * x [n, inputs] · wᵀ + b, w [out, inputs] in float64 (copied to float64 once). Sample by sample: a sample's row stays
 * in cache while every output reads it, four outputs at a time. Output by output, all of x was streamed from memory
 * once per output: 16.7 s for the 60,000 images of mnist:train at 100 units (a transplant's budget, whose site
 * activity is counted per condition). Each sum adds the same products in the same order either way: the same bits.
 */
function dense(x: Float64Array, n: number, inputs: number, w: Float32Array, b: Float32Array | null, out: number): Float64Array {
  const y = new Float64Array(n * out);
  const w64 = Float64Array.from(w);
  const bias = (o: number) => (b ? b[o] : 0);
  for (let s = 0; s < n; s++) {
    const at = s * inputs;
    let o = 0;
    // Four outputs at once: four independent sums, each in its own order, instead of one chain of additions.
    for (; o + 4 <= out; o += 4) {
      const r0 = o * inputs;
      const r1 = r0 + inputs;
      const r2 = r1 + inputs;
      const r3 = r2 + inputs;
      let s0 = bias(o);
      let s1 = bias(o + 1);
      let s2 = bias(o + 2);
      let s3 = bias(o + 3);
      for (let k = 0; k < inputs; k++) {
        const v = x[at + k];
        s0 += w64[r0 + k] * v;
        s1 += w64[r1 + k] * v;
        s2 += w64[r2 + k] * v;
        s3 += w64[r3 + k] * v;
      }
      y[s * out + o] = s0;
      y[s * out + o + 1] = s1;
      y[s * out + o + 2] = s2;
      y[s * out + o + 3] = s3;
    }
    for (; o < out; o++) {
      const row = o * inputs;
      let sum = bias(o);
      for (let k = 0; k < inputs; k++) sum += w64[row + k] * x[at + k];
      y[s * out + o] = sum;
    }
  }
  return y;
}

const window = (kernel: number, stride: number, padding: number): WindowAttributes => ({ kernel: [kernel, kernel], strides: [stride, stride], pads: [padding, padding, padding, padding], dilations: [], autoPad: "NOTSET" });
