/**
 * BatchNorm in training-step graphs (PyTorch's BatchNorm1d/2d, Ioffe & Szegedy 2015), as plain ONNX nodes.
 * Training: statistics of the batch over every axis but the channel (N for [N, C], N·H·W for [N, C, H, W]):
 *   μ = mean x, σ² = mean (x − μ)² (biased), x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β;
 *   running_mean ← (1 − m)·running_mean + m·μ, running_var ← (1 − m)·running_var + m·σ²·M/(M − 1) (the unbiased
 *   variance, M values per channel), as torch.nn.BatchNorm2d with momentum m (0.1).
 * Backward (the batch statistics depend on x): dβ = Σ dy, dγ = Σ dy·x̂,
 *   dx = γ/√(σ² + ε) · (dy − mean dy − x̂·mean(dy·x̂)).
 * Evaluation: ONNX BatchNormalization with the running statistics.
 * Frozen (training with the statistics held, as fine-tuning with a frozen batch norm; a transplant's merged network):
 *   x̂ = (x − running_mean)/√(running_var + ε), y = γ·x̂ + β, the running statistics passed through unchanged;
 *   dβ = Σ dy, dγ = Σ dy·x̂, dx = dy·γ/√(running_var + ε).
 * ONNX's own BatchNormalization training mode is not used: it updates the running variance with the biased one.
 */
import { DataType, makeNode, type NodeProto } from "./proto.js";

/** What these helpers need from the graph builder of src/onnx/trainGraph.ts. */
export interface Builder {
  nodes: NodeProto[];
  one(op: string, inputs: string[], attributes?: Record<string, number | number[] | string>): string;
  constant(name: string, dims: number[], values: Float32Array | BigInt64Array): string;
}

/** The tensors of a training-mode BatchNorm that its backward pass reads. */
export interface BatchNormSaved {
  xhat: string;
  invstd: string;
  /** γ shaped to broadcast against the input ([1, C, 1, 1] or [C]). */
  scale: string;
  /** Rank of one sample's input: 3 for images, 1 for flat. */
  rank: number;
  /** Normalised by the running statistics (held): x̂ does not depend on the batch. */
  frozen?: boolean;
}

export const runningNames = (name: string) => ({ mean: `${name}.running_mean`, variance: `${name}.running_var` });

/** Reduction axes (every axis but the channel axis) as an attribute list, and as a constant for ReduceSum. */
function axes(g: Builder, index: number, rank: number): { list: number[]; input: string } {
  const list = rank === 3 ? [0, 2, 3] : [0];
  return { list, input: g.constant(`bn.axes.${index}`, [list.length], BigInt64Array.from(list.map(BigInt))) };
}

function broadcast(g: Builder, index: number, tensor: string, channels: number, rank: number): string {
  return rank === 3 ? g.one("Reshape", [tensor, g.constant(`bn.shape.${index}.${tensor}`, [4], BigInt64Array.from([1n, BigInt(channels), 1n, 1n]))]) : tensor;
}

/** y = γ·x̂ + β, γ and β broadcast against x̂; γ broadcast is kept for the backward pass. */
function scaleAndShift(g: Builder, index: number, xhat: string, name: string, channels: number, rank: number): { output: string; scale: string } {
  const scale = broadcast(g, index, `${name}.weight`, channels, rank);
  return { output: g.one("Add", [g.one("Mul", [xhat, scale]), broadcast(g, index, `${name}.bias`, channels, rank)]), scale };
}

/**
 * Forward of layer `index`, BatchNorm `name` over `channels` on a sample of rank `rank`. Training: batch statistics,
 * and the updated running statistics written to `outputs.mean` / `outputs.variance`; evaluation: running statistics.
 */
export function batchNormForward(
  g: Builder,
  input: string,
  layer: { name: string; channels: number; eps: number; momentum: number },
  index: number,
  rank: number,
  training: false | { mean: string; variance: string },
): { output: string; saved: BatchNormSaved | null } {
  const { name, channels, eps, momentum } = layer;
  const running = runningNames(name);
  if (!training) {
    const output = g.one("BatchNormalization", [input, `${name}.weight`, `${name}.bias`, running.mean, running.variance], { epsilon: eps });
    return { output, saved: null };
  }
  const { list } = axes(g, index, rank);
  const mean = g.one("ReduceMean", [input], { axes: list, keepdims: 1 });
  const centred = g.one("Sub", [input, mean]);
  const variance = g.one("ReduceMean", [g.one("Mul", [centred, centred])], { axes: list, keepdims: 1 });
  const invstd = g.one("Reciprocal", [g.one("Sqrt", [g.one("Add", [variance, g.constant(`bn.eps.${index}`, [], new Float32Array([eps]))])])]);
  const xhat = g.one("Mul", [centred, invstd]);
  const { output, scale } = scaleAndShift(g, index, xhat, name, channels, rank);
  // Running statistics: M values per channel; the unbiased variance σ²·M/(M − 1) (PyTorch).
  const size = g.one("Cast", [g.one("Size", [input])], { to: DataType.FLOAT });
  const perChannel = g.one("Div", [size, g.constant(`bn.channels.${index}`, [], new Float32Array([channels]))]);
  // M = 1 (a last batch of one sample into BatchNorm1d, which PyTorch refuses) would make the factor 1/0: there the
  // denominator is held at 1, so the running variance decays instead of turning NaN.
  const one = g.constant(`bn.one.${index}`, [], new Float32Array([1]));
  const unbias = g.one("Div", [perChannel, g.one("Max", [g.one("Sub", [perChannel, one]), one])]);
  const flat = g.constant(`bn.flat.${index}`, [1], BigInt64Array.from([BigInt(channels)]));
  const keep = g.constant(`bn.keep.${index}`, [], new Float32Array([1 - momentum]));
  const m = g.constant(`bn.momentum.${index}`, [], new Float32Array([momentum]));
  const update = (old: string, batch: string, target: string) =>
    g.nodes.push(makeNode("Add", [g.one("Mul", [old, keep]), g.one("Mul", [g.one("Reshape", [batch, flat]), m])], [target], `${target}/update`));
  update(running.mean, mean, training.mean);
  update(running.variance, g.one("Mul", [variance, unbias]), training.variance);
  return { output, saved: { xhat, invstd, scale, rank } };
}

/**
 * Forward of a frozen BatchNorm (layer `index`, see the module comment) in a training step: the running statistics
 * normalise, and are written unchanged to `outputs.mean` / `outputs.variance`.
 */
export function frozenBatchNormForward(g: Builder, input: string, layer: { name: string; channels: number; eps: number }, index: number, rank: number, outputs: { mean: string; variance: string }): { output: string; saved: BatchNormSaved } {
  const { name, channels, eps } = layer;
  const running = runningNames(name);
  const invstd = broadcast(g, index, g.one("Reciprocal", [g.one("Sqrt", [g.one("Add", [running.variance, g.constant(`bn.eps.${index}`, [], new Float32Array([eps]))])])]), channels, rank);
  const xhat = g.one("Mul", [g.one("Sub", [input, broadcast(g, index, running.mean, channels, rank)]), invstd]);
  const { output, scale } = scaleAndShift(g, index, xhat, name, channels, rank);
  g.nodes.push(makeNode("Identity", [running.mean], [outputs.mean], `${outputs.mean}/held`), makeNode("Identity", [running.variance], [outputs.variance], `${outputs.variance}/held`));
  return { output, saved: { xhat, invstd, scale, rank, frozen: true } };
}

/** Backward of a training-mode (or frozen) BatchNorm: sets the gradients of γ and β, returns dx (or null when not needed). */
export function batchNormBackward(g: Builder, grad: string, name: string, index: number, saved: BatchNormSaved, grads: Map<string, string>, needInput: boolean): string | null {
  const { input: axesInput } = axes(g, index, saved.rank);
  // Sums kept broadcastable; the means dx needs are these sums over M, so two reductions serve both.
  const sumGrad = g.one("ReduceSum", [grad, axesInput], { keepdims: 1 });
  const sumGradXhat = g.one("ReduceSum", [g.one("Mul", [grad, saved.xhat]), axesInput], { keepdims: 1 });
  const flat = g.constant(`bn.gradshape.${index}`, [1], BigInt64Array.from([-1n]));
  grads.set(`${name}.bias`, g.one("Reshape", [sumGrad, flat]));
  grads.set(`${name}.weight`, g.one("Reshape", [sumGradXhat, flat]));
  if (!needInput) return null;
  if (saved.frozen) return g.one("Mul", [grad, g.one("Mul", [saved.scale, saved.invstd])]);
  // dx = γ/√(σ² + ε) · (dy − Σdy/M − x̂·Σ(dy·x̂)/M), with 1/M folded into the per-channel factor.
  const perChannel = g.one("Div", [g.one("Cast", [g.one("Size", [grad])], { to: DataType.FLOAT }), g.one("Cast", [g.one("Size", [sumGrad])], { to: DataType.FLOAT })]);
  const inner = g.one("Sub", [g.one("Sub", [g.one("Mul", [grad, perChannel]), sumGrad]), g.one("Mul", [saved.xhat, sumGradXhat])]);
  return g.one("Mul", [inner, g.one("Div", [g.one("Mul", [saved.scale, saved.invstd]), perChannel])]);
}
