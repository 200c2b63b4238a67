/**
 * Architecture specs: a state_dict holds weights but no architecture, so `lesion import` takes one.
 * `mlp` = every Linear in key order with an activation between. Otherwise a comma-separated list of layers:
 *   conv[(stride=S,padding=P)]  bn  linear  relu  leakyrelu[(alpha)]  tanh  sigmoid  dropout
 *   maxpool(K[,stride=S])  avgpool(K[,stride=S])  flatten
 * e.g. `conv(padding=1),relu,maxpool(2),conv(padding=1),relu,maxpool(2),flatten,linear,relu,linear`.
 * conv, bn and linear take the next parameter group of the state_dict in key order (`conv1.weight`, `conv1.bias`, …),
 * and shapes come from the weights; the spec only says how the layers connect.
 */
import { fail } from "../errors.js";
import type { LayerSpec } from "../onnx/build.js";
import type { StateDict, StateTensor } from "./torch/types.js";

export type ArchToken =
  | { op: "conv"; stride: number; padding: number }
  | { op: "linear" | "bn" | "relu" | "tanh" | "sigmoid" | "dropout" | "flatten" }
  | { op: "leakyrelu"; alpha: number }
  | { op: "maxpool" | "avgpool"; kernel: number; stride: number };

export type Activation = "relu" | "tanh" | "sigmoid" | "leakyrelu";

const ARCH_HELP = "expected 'mlp' or a list like conv(padding=1),relu,maxpool(2),flatten,linear,relu,linear";

/** Parses a spec; `mlp` needs the state_dict to know how many layers, so it is returned as null here. */
export function parseArch(text: string): ArchToken[] | null {
  const spec = text.trim();
  if (spec === "mlp") return null;
  if (spec === "") fail("bad-arch", `empty architecture; ${ARCH_HELP}`);
  return splitTopLevel(spec).map((token) => parseToken(token.trim(), spec));
}

function splitTopLevel(spec: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === "(") depth++;
    else if (spec[i] === ")") depth--;
    else if (spec[i] === "," && depth === 0) {
      parts.push(spec.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(spec.slice(start));
  return parts;
}

function parseToken(token: string, spec: string): ArchToken {
  const match = /^([a-z]+)(?:\((.*)\))?$/.exec(token);
  if (!match) fail("bad-arch", `cannot read layer '${token}' in architecture '${spec}'; ${ARCH_HELP}`, { token });
  const [, op, argText] = match;
  const positional: number[] = [];
  const named: Record<string, number> = {};
  for (const arg of argText ? argText.split(",") : []) {
    const [key, value] = arg.includes("=") ? arg.split("=") : [null, arg];
    const number = Number(value);
    if (!Number.isFinite(number)) fail("bad-arch", `layer '${token}' has a non-numeric argument '${arg}'`, { token });
    if (key) named[key.trim()] = number;
    else positional.push(number);
  }
  const int = (value: number, what: string) => {
    if (!Number.isInteger(value) || value < 0) fail("bad-arch", `layer '${token}' needs a whole ${what}, got ${value}`, { token });
    return value;
  };
  switch (op) {
    case "conv":
      return { op, stride: int(named.stride ?? positional[0] ?? 1, "stride"), padding: int(named.padding ?? positional[1] ?? 0, "padding") };
    case "maxpool":
    case "avgpool": {
      const kernel = int(named.kernel ?? positional[0] ?? NaN, "kernel size");
      return { op, kernel, stride: int(named.stride ?? positional[1] ?? kernel, "stride") };
    }
    case "leakyrelu":
      return { op, alpha: named.alpha ?? positional[0] ?? 0.01 };
    case "linear":
    case "bn":
    case "relu":
    case "tanh":
    case "sigmoid":
    case "dropout":
    case "flatten":
      return { op };
    default:
      fail("bad-arch", `unknown layer '${op}' in architecture '${spec}'; ${ARCH_HELP}`, { token });
  }
}

interface ParameterGroup {
  name: string;
  tensors: Map<string, StateTensor>;
}

/** Groups `x.weight`, `x.bias`, `x.running_mean`, … by their prefix, in key order. */
export function parameterGroups(state: StateDict): ParameterGroup[] {
  const groups = new Map<string, ParameterGroup>();
  for (const tensor of state) {
    const dot = tensor.name.lastIndexOf(".");
    if (dot < 0) continue;
    const prefix = tensor.name.slice(0, dot);
    const group = groups.get(prefix) ?? { name: prefix, tensors: new Map() };
    group.tensors.set(tensor.name.slice(dot + 1), tensor);
    groups.set(prefix, group);
  }
  return [...groups.values()].filter((g) => g.tensors.has("weight"));
}

export interface ArchResult {
  layers: LayerSpec[];
  /** One sample's input shape: [D] for an MLP, [C, H, W] for a CNN. */
  inputShape: number[];
}

/**
 * Lays the state_dict's weights onto a spec. `imageShape` is the [C,H,W] of the images the network takes; it is
 * needed for a CNN and checked for an MLP.
 */
export function buildArch(spec: ArchToken[] | null, state: StateDict, imageShape: [number, number, number], activation: Activation = "relu"): ArchResult {
  const groups = parameterGroups(state);
  const tokens = spec ?? mlpTokens(groups, activation);
  const layers: LayerSpec[] = [];
  let shape: number[] = spec === null ? [imageShape[0] * imageShape[1] * imageShape[2]] : [...imageShape];
  const inputShape = [...shape];
  let next = 0;
  const take = (what: string): ParameterGroup => {
    const group = groups[next++];
    if (!group) fail("bad-arch", `the architecture has more ${what} layers than the checkpoint has parameter groups (${groups.length}: ${groups.map((g) => g.name).join(", ")})`);
    return group;
  };
  for (const token of tokens) {
    switch (token.op) {
      case "linear": {
        const group = take("linear");
        const weight = floatTensor(group, "weight", 2);
        const [out, inp] = weight.shape;
        if (shape.length !== 1) fail("bad-arch", `linear layer ${group.name} follows a ${shape.join("x")} tensor; add flatten before it`, { layer: group.name });
        if (shape[0] !== inp) fail("bad-arch", `linear layer ${group.name} takes ${inp} inputs but gets ${shape[0]}`, { layer: group.name });
        layers.push({ op: "linear", name: group.name, weight: weight.data as Float32Array, shape: [out, inp], bias: optionalBias(group, out) });
        shape = [out];
        break;
      }
      case "conv": {
        const group = take("conv");
        const weight = floatTensor(group, "weight", 4);
        const [out, inp, kh, kw] = weight.shape;
        if (shape.length !== 3 || shape[0] !== inp) fail("bad-arch", `conv layer ${group.name} takes ${inp} channels but gets a ${shape.join("x")} tensor`, { layer: group.name });
        if (kh !== kw) fail("bad-arch", `conv layer ${group.name} has a ${kh}x${kw} kernel; lesion builds square kernels only`, { layer: group.name });
        layers.push({ op: "conv", name: group.name, weight: weight.data as Float32Array, shape: [out, inp, kh, kw], bias: optionalBias(group, out), stride: token.stride, padding: token.padding });
        shape = [out, convSize(shape[1], kh, token.stride, token.padding), convSize(shape[2], kw, token.stride, token.padding)];
        break;
      }
      case "bn": {
        const group = take("bn");
        const channels = shape[0];
        const get = (key: string) => {
          const tensor = group.tensors.get(key);
          if (!tensor || tensor.data.length !== channels) fail("bad-arch", `batch norm ${group.name} needs ${key} with ${channels} values`, { layer: group.name });
          return Float32Array.from(tensor.data as Float32Array);
        };
        layers.push({ op: "batchnorm", name: group.name, scale: get("weight"), bias: get("bias"), mean: get("running_mean"), variance: get("running_var"), epsilon: 1e-5 });
        break;
      }
      case "maxpool":
      case "avgpool":
        if (shape.length !== 3) fail("bad-arch", `${token.op} needs an image-shaped input, got ${shape.join("x")}`);
        layers.push(token);
        shape = [shape[0], convSize(shape[1], token.kernel, token.stride, 0), convSize(shape[2], token.kernel, token.stride, 0)];
        break;
      case "flatten":
        layers.push({ op: "flatten" });
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case "leakyrelu":
        layers.push(token);
        break;
      default:
        layers.push({ op: token.op });
    }
  }
  if (next < groups.length) fail("bad-arch", `the checkpoint has ${groups.length - next} parameter group(s) the architecture does not use: ${groups.slice(next).map((g) => g.name).join(", ")}`);
  if (shape.length !== 1) fail("bad-arch", `the architecture ends in a ${shape.join("x")} tensor; a classifier ends in a linear layer`);
  return { layers, inputShape };
}

function mlpTokens(groups: ParameterGroup[], activation: Activation): ArchToken[] {
  if (groups.length === 0) fail("bad-arch", "the checkpoint has no weights to build an MLP from");
  const act: ArchToken = activation === "leakyrelu" ? { op: "leakyrelu", alpha: 0.01 } : { op: activation };
  return groups.flatMap((_, i) => (i < groups.length - 1 ? [{ op: "linear" as const }, act] : [{ op: "linear" as const }]));
}

function convSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

function floatTensor(group: ParameterGroup, key: string, rank: number): StateTensor {
  const tensor = group.tensors.get(key)!;
  if (tensor.shape.length !== rank) fail("bad-arch", `${tensor.name} has shape ${tensor.shape.join("x")}; expected a rank-${rank} weight here`, { tensor: tensor.name });
  if (!(tensor.data instanceof Float32Array) && !(tensor.data instanceof Float64Array)) fail("bad-arch", `${tensor.name} is not a floating-point tensor`, { tensor: tensor.name });
  return { ...tensor, data: Float32Array.from(tensor.data as Float32Array) };
}

function optionalBias(group: ParameterGroup, size: number): Float32Array | null {
  const bias = group.tensors.get("bias");
  if (!bias) return null;
  if (bias.data.length !== size) fail("bad-arch", `${bias.name} has ${bias.data.length} values; expected ${size}`, { tensor: bias.name });
  return Float32Array.from(bias.data as Float32Array);
}
