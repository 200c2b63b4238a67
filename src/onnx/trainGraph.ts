/**
 * Training-step graphs: forward pass, softmax cross-entropy, backward pass and optimizer update of a `Network`, as
 * plain ONNX nodes, so onnxruntime runs a whole step in one call (parameters and optimizer state in, updated ones out).
 * Gradient rules (each checked against finite differences and PyTorch in test/onnx/trainGraph.test.ts):
 * - Linear y = x·Wᵀ + b: dx = dy·W, dW = dyᵀ·x, db = Σ_batch dy.
 * - Conv (stride s, padding p): dW = Conv(xᵀ, dyᵀ) with dilation s (batch as channels), cropped to the kernel;
 *   dx = ConvTranspose(dy, W) with the output padding that restores x's size; db = Σ over batch and space.
 * - MaxPool (padded too: its indices point into the unpadded input): dy scattered (summed) to the arg-max positions
 *   from MaxPool's own indices; AvgPool: a depthwise
 *   ConvTranspose with weights 1/k².
 * - BatchNorm (src/onnx/trainBatchNorm.ts): batch statistics in training, their gradient included; the running
 *   statistics (buffers, fed in and updated out like optimizer state) in evaluation.
 * - ReLU, LeakyReLU, Tanh, Sigmoid, Dropout (a mask fed per step), Flatten: elementwise / reshape.
 * - Add (a residual connection): the gradient passes to both inputs; an output several layers read (a residual
 *   block's input, read by its first conv and its shortcut) gets the sum of their gradients.
 * - GlobalAveragePool: dy/(H·W) at every position.
 * - Subsampling x[:, :, ::s, ::s] (Slice with steps): dy put back at the rows and columns taken, zero elsewhere (a
 *   depthwise ConvTranspose of stride s with a 1×1 kernel of ones); zero channels padded around (Pad): dy's middle
 *   channels (Slice).
 * - Loss: mean softmax cross-entropy of the logits (a final LogSoftmax is NLL of log-probabilities: the same loss
 *   and gradient, so it is folded in): dz = (softmax(z) − onehot(y)) / batch.
 * - Masks: a unit mask after a layer multiplies its output forward and its gradient backward, so held units stay
 *   zero and pass no gradient.
 * Optimizers follow PyTorch's torch.optim: SGD (momentum, no dampening) and Adam, weight decay added to the gradient.
 */
import { DataType, makeNode, makeTensor, makeValueInfo, onnx, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";
import { padChannelsNode, subsampleNode } from "./build.js";
import { buffers, inputOf, layerShapes, parameters, type Network } from "./network.js";
import { batchNormBackward, batchNormForward, frozenBatchNormForward, type BatchNormSaved } from "./trainBatchNorm.js";

export interface StepOptions {
  optimizer: "sgd" | "adam";
  /** SGD momentum. */
  momentum: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Layer index → units of that layer's output held at zero. */
  masks: Record<number, number[]>;
  /**
   * Parameter name → 0/1 mask of the parameter's shape (or one value for the whole parameter) multiplying its
   * gradient (weight decay included) before the optimizer: a 0 entry never moves (SGD and Adam start from zero
   * state, so a zero gradient is a zero step). Parameters not named train freely. Used to freeze all but a few
   * weights (transplant).
   */
  gradientMasks?: Record<string, Float32Array>;
  /**
   * Batch norm layers normalise with their running statistics, which stay as they are (as in evaluation; γ and β
   * still train where their gradient masks let them): a network whose units must keep computing what they computed
   * (a transplant's). Default false: batch statistics, running ones updated (PyTorch's train mode).
   */
  frozenBatchNorm?: boolean;
}

export const STEP_INPUTS = { x: "x", y: "y", lr: "lr", c1: "adam.c1", c2: "adam.c2" } as const;
export const LOSS_OUTPUT = "loss";
export const LOGITS_OUTPUT = "logits";
export const maskInput = (layer: number) => `mask.${layer}`;
export const dropoutInput = (layer: number) => `dropout.${layer}`;
export const stateNames = (optimizer: StepOptions["optimizer"], parameter: string) => (optimizer === "sgd" ? [`${parameter}.velocity`] : [`${parameter}.m`, `${parameter}.v`]);
export const updated = (name: string) => `${name}.next`;

class GraphBuilder {
  nodes: NodeProto[] = [];
  initializers: TensorProto[] = [];
  private count = 0;
  node(op: string, inputs: string[], attributes: Record<string, number | number[] | string> = {}, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, (_, i) => `t${this.count}_${i}`);
    this.nodes.push(makeNode(op, inputs, names, `n${this.count++}/${op}`, attributes));
    return names;
  }
  one(op: string, inputs: string[], attributes: Record<string, number | number[] | string> = {}): string {
    return this.node(op, inputs, attributes)[0];
  }
  constant(name: string, dims: number[], values: Float32Array | BigInt64Array): string {
    this.initializers.push(makeTensor(name, dims, values));
    return name;
  }
}

/** The forward pass alone, parameters as inputs: for evaluation during training with the live weights. */
export function forwardModel(network: Network, masks: Record<number, number[]> = {}): ModelProto {
  const g = new GraphBuilder();
  const { logits } = forward(g, network, masks, false);
  g.nodes.push(makeNode("Identity", [logits], [LOGITS_OUTPUT], "logits/Identity"));
  return model(g, [makeValueInfo(STEP_INPUTS.x, DataType.FLOAT, ["batch", ...network.inputShape]), ...parameterInputs(network), ...bufferInputs(network), ...maskInputs(network, masks)], [makeValueInfo(LOGITS_OUTPUT, DataType.FLOAT, ["batch", "classes"])]);
}

export function trainStepModel(network: Network, options: StepOptions): ModelProto {
  const g = new GraphBuilder();
  const shapes = layerShapes(network);
  const params = parameters(network);
  g.constant("zero", [], new Float32Array([0]));
  g.constant("axis0", [1], BigInt64Array.from([0n]));
  g.constant("axes023", [3], BigInt64Array.from([0n, 2n, 3n]));
  g.constant("flat", [1], BigInt64Array.from([-1n]));
  const { logits, inputs: layerInputs, raw, saved, gates } = forward(g, network, options.masks, options.frozenBatchNorm ? "frozen" : true);

  // Loss and its gradient with respect to the logits.
  const [loss] = g.node("SoftmaxCrossEntropyLoss", [logits, STEP_INPUTS.y], { reduction: "mean" });
  g.nodes.push(makeNode("Identity", [loss], [LOSS_OUTPUT], "loss/Identity"));
  const classes = shapes[shapes.length - 1][0];
  const onehot = g.one("OneHot", [STEP_INPUTS.y, g.constant("depth", [], new Float32Array([classes])), g.constant("onoff", [2], new Float32Array([0, 1]))], { axis: -1 });
  const batch = g.one("Cast", [g.one("Gather", [g.one("Shape", [logits]), g.constant("index0", [], BigInt64Array.from([0n]))], { axis: 0 })], { to: DataType.FLOAT });
  const grads = new Map<string, string>();
  const last = network.layers[network.layers.length - 1].op === "logsoftmax" ? network.layers.length - 2 : network.layers.length - 1;
  // Per layer, the gradient of the loss with respect to its output: summed over the layers that read it (a residual
  // block's input feeds its first conv and its shortcut).
  const gradOf = new Map<number, string>();
  const accumulate = (j: number, gradient: string) => {
    if (j < 0) return;
    const had = gradOf.get(j);
    gradOf.set(j, had ? g.one("Add", [had, gradient]) : gradient);
  };
  gradOf.set(last, g.one("Div", [g.one("Sub", [g.one("Softmax", [logits], { axis: 1 }), onehot]), batch]));
  for (let i = last; i >= 0; i--) {
    const layer = network.layers[i];
    const input = layerInputs[i];
    let grad = gradOf.get(i);
    // An output nothing reads (none in the networks lesion builds or reads) passes no gradient.
    if (grad === undefined) continue;
    if (options.masks[i]) grad = g.one("Mul", [grad, maskInput(i)]);
    const from = inputOf(network, i);
    const needInput = from >= 0;
    const inShape = from < 0 ? network.inputShape : shapes[from];
    switch (layer.op) {
      case "linear": {
        grads.set(`${layer.name}.weight`, g.one("Gemm", [grad, input], { transA: 1 }));
        if (layer.bias) grads.set(`${layer.name}.bias`, g.one("ReduceSum", [grad, "axis0"], { keepdims: 0 }));
        if (needInput) grad = g.one("MatMul", [grad, `${layer.name}.weight`]);
        break;
      }
      case "conv": {
        const outShape = shapes[i];
        const { kernel: k, stride: s, padding: p } = layer;
        const xT = g.one("Transpose", [input], { perm: [1, 0, 2, 3] });
        const gT = g.one("Transpose", [grad], { perm: [1, 0, 2, 3] });
        const full = g.one("Conv", [xT, gT], { pads: [p, p, p, p], dilations: [s, s], strides: [1, 1] });
        const cropped = g.one("Slice", [full, g.constant(`crop.start.${i}`, [2], BigInt64Array.from([0n, 0n])), g.constant(`crop.end.${i}`, [2], BigInt64Array.from([BigInt(k), BigInt(k)])), g.constant(`crop.axes.${i}`, [2], BigInt64Array.from([2n, 3n]))]);
        grads.set(`${layer.name}.weight`, g.one("Transpose", [cropped], { perm: [1, 0, 2, 3] }));
        if (layer.bias) grads.set(`${layer.name}.bias`, g.one("ReduceSum", [grad, "axes023"], { keepdims: 0 }));
        if (needInput) {
          const pad = (d: number) => inShape[d] - ((outShape[d] - 1) * s - 2 * p + k);
          grad = g.one("ConvTranspose", [grad, `${layer.name}.weight`], { strides: [s, s], pads: [p, p, p, p], output_padding: [pad(1), pad(2)], kernel_shape: [k, k] });
        }
        break;
      }
      case "batchnorm":
        grad = batchNormBackward(g, grad, layer.name, i, saved.get(i)!, grads, needInput) ?? grad;
        break;
      case "relu":
        grad = g.one("Mul", [grad, g.one("Cast", [g.one("Greater", [input, "zero"])], { to: DataType.FLOAT })]);
        break;
      case "leakyrelu":
        grad = g.one("Where", [g.one("Greater", [input, "zero"]), grad, g.one("Mul", [grad, g.constant(`alpha.${i}`, [], new Float32Array([layer.alpha]))])]);
        break;
      case "tanh":
        grad = g.one("Sub", [grad, g.one("Mul", [grad, g.one("Mul", [raw[i], raw[i]])])]);
        break;
      case "sigmoid":
        grad = g.one("Mul", [grad, g.one("Mul", [raw[i], g.one("Sub", [g.constant(`one.${i}`, [], new Float32Array([1])), raw[i]])])]);
        break;
      case "gelu": {
        // d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π); Φ(x) from the forward pass.
        const cdf = gates.get(i)!;
        const density = g.one("Mul", [g.one("Exp", [g.one("Mul", [g.one("Mul", [input, input]), g.constant(`gelu.minushalf.${i}`, [], Float32Array.of(-0.5))])]), g.constant(`gelu.norm.${i}`, [], Float32Array.of(1 / Math.sqrt(2 * Math.PI)))]);
        grad = g.one("Mul", [grad, g.one("Add", [cdf, g.one("Mul", [input, density])])]);
        break;
      }
      case "silu": {
        // d/dx x·s(x) = s·(1 + x·(1 − s)), s = sigmoid(x) from the forward pass.
        const gate = gates.get(i)!;
        const one = g.constant(`silu.one.${i}`, [], Float32Array.of(1));
        grad = g.one("Mul", [grad, g.one("Mul", [gate, g.one("Add", [one, g.one("Mul", [input, g.one("Sub", [one, gate])])])])]);
        break;
      }
      case "dropout":
        grad = g.one("Mul", [grad, dropoutInput(i)]);
        break;
      case "flatten":
        grad = g.one("Reshape", [grad, g.one("Shape", [input])]);
        break;
      case "maxpool": {
        const indices = g.one("Reshape", [`${raw[i]}::indices`, "flat"]);
        const zeros = g.one("ConstantOfShape", [g.one("Shape", [g.one("Reshape", [input, "flat"])])], {});
        const scattered = g.one("ScatterElements", [zeros, indices, g.one("Reshape", [grad, "flat"])], { axis: 0, reduction: "add" });
        grad = g.one("Reshape", [scattered, g.one("Shape", [input])]);
        break;
      }
      case "avgpool": {
        const channels = inShape[0];
        const k = layer.kernel;
        const weights = g.constant(`avgpool.kernel.${i}`, [channels, 1, k, k], new Float32Array(channels * k * k).fill(1 / (k * k)));
        const pad = (d: number) => inShape[d] - ((shapes[i][d] - 1) * layer.stride + k);
        grad = g.one("ConvTranspose", [grad, weights], { strides: [layer.stride, layer.stride], group: channels, output_padding: [pad(1), pad(2)], kernel_shape: [k, k] });
        break;
      }
      case "add":
        // A sum passes its gradient to both of its inputs unchanged.
        accumulate(layer.from, grad);
        break;
      case "globalavgpool":
        grad = g.one("Mul", [g.one("Expand", [grad, g.one("Shape", [input])]), g.constant(`globalavgpool.scale.${i}`, [], Float32Array.of(1 / (inShape[1] * inShape[2])))]);
        break;
      case "subsample": {
        const channels = inShape[0];
        const strides = [2, 3].map((axis) => (layer.axes.includes(axis) ? layer.stride : 1));
        const pad = (d: number) => inShape[d] - ((shapes[i][d] - 1) * strides[d - 1] + 1);
        grad = g.one("ConvTranspose", [grad, g.constant(`subsample.ones.${i}`, [channels, 1, 1, 1], new Float32Array(channels).fill(1))], { strides, group: channels, output_padding: [pad(1), pad(2)], kernel_shape: [1, 1] });
        break;
      }
      case "padchannels":
        grad = g.one("Slice", [grad, g.constant(`padchannels.start.${i}`, [1], BigInt64Array.of(BigInt(layer.before))), g.constant(`padchannels.end.${i}`, [1], BigInt64Array.of(BigInt(layer.before + inShape[0]))), g.constant(`padchannels.axis.${i}`, [1], BigInt64Array.of(1n))]);
        break;
      case "logsoftmax":
        break;
    }
    accumulate(from, grad);
  }

  // Optimizer update, parameter by parameter.
  const outputs = [makeValueInfo(LOSS_OUTPUT, DataType.FLOAT, []), ...buffers(network).map((b) => makeValueInfo(updated(b.name), DataType.FLOAT, b.shape))];
  const scalar = (name: string, value: number) => g.constant(name, [], new Float32Array([value]));
  for (const param of params) {
    let gradient = grads.get(param.name)!;
    if (options.weightDecay > 0) gradient = g.one("Add", [gradient, g.one("Mul", [param.name, scalar(`wd.${param.name}`, options.weightDecay)])]);
    const gradientMask = options.gradientMasks?.[param.name];
    if (gradientMask) gradient = g.one("Mul", [gradient, g.constant(`gradmask.${param.name}`, gradientMask.length === 1 ? [] : param.shape, gradientMask)]);
    if (options.optimizer === "sgd") {
      const [velocity] = stateNames("sgd", param.name);
      const next = options.momentum > 0 ? g.one("Add", [g.one("Mul", [velocity, scalar(`mu.${param.name}`, options.momentum)]), gradient]) : gradient;
      g.nodes.push(makeNode("Identity", [next], [updated(velocity)], `${velocity}/next`));
      g.nodes.push(makeNode("Sub", [param.name, g.one("Mul", [next, STEP_INPUTS.lr])], [updated(param.name)], `${param.name}/next`));
      outputs.push(makeValueInfo(updated(param.name), DataType.FLOAT, param.shape), makeValueInfo(updated(velocity), DataType.FLOAT, param.shape));
    } else {
      const [m, v] = stateNames("adam", param.name);
      const [b1, b2] = options.betas;
      const mNext = g.one("Add", [g.one("Mul", [m, scalar(`b1.${param.name}`, b1)]), g.one("Mul", [gradient, scalar(`1-b1.${param.name}`, 1 - b1)])]);
      const vNext = g.one("Add", [g.one("Mul", [v, scalar(`b2.${param.name}`, b2)]), g.one("Mul", [g.one("Mul", [gradient, gradient]), scalar(`1-b2.${param.name}`, 1 - b2)])]);
      const denominator = g.one("Add", [g.one("Sqrt", [g.one("Mul", [vNext, STEP_INPUTS.c2])]), scalar(`eps.${param.name}`, options.eps)]);
      const step = g.one("Div", [g.one("Mul", [g.one("Mul", [mNext, STEP_INPUTS.c1]), STEP_INPUTS.lr]), denominator]);
      g.nodes.push(makeNode("Identity", [mNext], [updated(m)], `${m}/next`), makeNode("Identity", [vNext], [updated(v)], `${v}/next`));
      g.nodes.push(makeNode("Sub", [param.name, step], [updated(param.name)], `${param.name}/next`));
      outputs.push(makeValueInfo(updated(param.name), DataType.FLOAT, param.shape), makeValueInfo(updated(m), DataType.FLOAT, param.shape), makeValueInfo(updated(v), DataType.FLOAT, param.shape));
    }
  }
  const inputs = [
    makeValueInfo(STEP_INPUTS.x, DataType.FLOAT, ["batch", ...network.inputShape]),
    makeValueInfo(STEP_INPUTS.y, DataType.INT32, ["batch"]),
    makeValueInfo(STEP_INPUTS.lr, DataType.FLOAT, []),
    ...(options.optimizer === "adam" ? [makeValueInfo(STEP_INPUTS.c1, DataType.FLOAT, []), makeValueInfo(STEP_INPUTS.c2, DataType.FLOAT, [])] : []),
    ...parameterInputs(network),
    ...bufferInputs(network),
    ...params.flatMap((p) => stateNames(options.optimizer, p.name).map((s) => makeValueInfo(s, DataType.FLOAT, p.shape))),
    ...maskInputs(network, options.masks),
    ...network.layers.flatMap((l, i) => (l.op === "dropout" ? [makeValueInfo(dropoutInput(i), DataType.FLOAT, ["batch", ...shapes[i]])] : [])),
  ];
  return model(g, inputs, outputs);
}

/** Mask inputs: [1, units] for a dense layer, [1, channels, 1, 1] for a conv layer. */
function maskInputs(network: Network, masks: Record<number, number[]>) {
  const shapes = layerShapes(network);
  return Object.keys(masks).map((i) => makeValueInfo(maskInput(Number(i)), DataType.FLOAT, [1, ...shapes[Number(i)].map((d, j) => (j === 0 ? d : 1))]));
}

function parameterInputs(network: Network) {
  return parameters(network).map((p) => makeValueInfo(p.name, DataType.FLOAT, p.shape));
}

function bufferInputs(network: Network) {
  return buffers(network).map((b) => makeValueInfo(b.name, DataType.FLOAT, b.shape));
}

/**
 * The forward nodes. Per layer: its input tensor, its output (after any mask) and its raw output (before the mask,
 * what activation gradients read). Masks apply always; dropout and batch statistics only when training (then the
 * updated running statistics are graph outputs, and `saved` holds what each BatchNorm's backward pass reads). `gates`
 * holds GELU's Φ(x) and SiLU's sigmoid(x) per layer, which their derivatives reuse.
 */
function forward(g: GraphBuilder, network: Network, masks: Record<number, number[]>, training: boolean | "frozen"): { logits: string; inputs: string[]; outputs: string[]; raw: string[]; saved: Map<number, BatchNormSaved>; gates: Map<number, string> } {
  const shapes = layerShapes(network);
  const saved = new Map<number, BatchNormSaved>();
  const gates = new Map<number, string>();
  let current: string = STEP_INPUTS.x;
  const inputs: string[] = [];
  const outputs: string[] = [];
  const raw: string[] = [];
  network.layers.forEach((layer, i) => {
    const from = inputOf(network, i);
    current = from < 0 ? STEP_INPUTS.x : outputs[from];
    inputs.push(current);
    let out: string;
    switch (layer.op) {
      case "linear":
        out = g.one("Gemm", layer.bias ? [current, `${layer.name}.weight`, `${layer.name}.bias`] : [current, `${layer.name}.weight`], { transB: 1 });
        break;
      case "conv": {
        const p = layer.padding;
        out = g.one("Conv", layer.bias ? [current, `${layer.name}.weight`, `${layer.name}.bias`] : [current, `${layer.name}.weight`], { kernel_shape: [layer.kernel, layer.kernel], pads: [p, p, p, p], strides: [layer.stride, layer.stride] });
        break;
      }
      case "batchnorm": {
        const rank = (from < 0 ? network.inputShape : shapes[from]).length;
        const targets = training ? { mean: updated(`${layer.name}.running_mean`), variance: updated(`${layer.name}.running_var`) } : false;
        const bn = training === "frozen" && targets ? frozenBatchNormForward(g, current, layer, i, rank, targets) : batchNormForward(g, current, layer, i, rank, targets);
        if (bn.saved) saved.set(i, bn.saved);
        out = bn.output;
        break;
      }
      case "relu":
        out = g.one("Relu", [current]);
        break;
      case "leakyrelu":
        out = g.one("LeakyRelu", [current], { alpha: layer.alpha });
        break;
      case "tanh":
        out = g.one("Tanh", [current]);
        break;
      case "sigmoid":
        out = g.one("Sigmoid", [current]);
        break;
      case "gelu": {
        // x·Φ(x), Φ(x) = 0.5·(1 + erf(x/√2)); equal bit for bit to torch.onnx's x·(1 + erf(x/√2))·0.5 (build.ts), a
        // product by 0.5 being exact. Φ is kept for the backward pass (gates).
        const cdf = g.one("Mul", [g.one("Add", [g.one("Erf", [g.one("Div", [current, g.constant(`gelu.root2.${i}`, [], Float32Array.of(Math.SQRT2))])]), g.constant(`gelu.one.${i}`, [], Float32Array.of(1))]), g.constant(`gelu.half.${i}`, [], Float32Array.of(0.5))]);
        gates.set(i, cdf);
        out = g.one("Mul", [current, cdf]);
        break;
      }
      case "silu": {
        const gate = g.one("Sigmoid", [current]);
        gates.set(i, gate);
        out = g.one("Mul", [current, gate]);
        break;
      }
      case "flatten":
        out = g.one("Flatten", [current], { axis: 1 });
        break;
      case "dropout":
        out = training ? g.one("Mul", [current, dropoutInput(i)]) : current;
        break;
      case "maxpool": {
        const p = layer.padding ?? 0;
        const [pooled, indices] = g.node("MaxPool", [current], { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], ...(p > 0 ? { pads: [p, p, p, p] } : {}) }, training ? 2 : 1);
        if (indices) g.nodes.push(makeNode("Identity", [indices], [`${pooled}::indices`], `${pooled}/indices`));
        out = pooled;
        break;
      }
      case "avgpool":
        out = g.one("AveragePool", [current], { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride] });
        break;
      case "logsoftmax":
        out = g.one("LogSoftmax", [current], { axis: 1 });
        break;
      case "add":
        out = g.one("Add", [current, layer.from < 0 ? STEP_INPUTS.x : outputs[layer.from]]);
        break;
      case "globalavgpool":
        out = g.one("GlobalAveragePool", [current]);
        break;
      case "subsample":
      case "padchannels": {
        out = `${layer.op}.${i}/output`;
        const built = layer.op === "subsample" ? subsampleNode(`${layer.op}.${i}`, current, out, layer) : padChannelsNode(`${layer.op}.${i}`, current, out, layer);
        g.nodes.push(built.node);
        g.initializers.push(...built.initializers);
        break;
      }
    }
    raw.push(out);
    if (masks[i]) out = g.one("Mul", [out, maskInput(i)]);
    outputs.push(out);
    current = out;
  });
  // The loss takes the logits before a final LogSoftmax (cross-entropy of logits = NLL of log-probabilities).
  const last = network.layers[network.layers.length - 1];
  return { logits: last.op === "logsoftmax" ? inputs[inputs.length - 1] : current, inputs, outputs, raw, saved, gates };
}

function model(g: GraphBuilder, inputs: ReturnType<typeof makeValueInfo>[], outputs: ReturnType<typeof makeValueInfo>[]): ModelProto {
  const graph = onnx.GraphProto.create({ name: "lesion-train", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs });
  return onnx.ModelProto.create({ irVersion: 8, producerName: "lesion", opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph });
}
