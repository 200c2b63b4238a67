/**
 * One architecture grammar for `lesion train --arch` (the network is built from it) and `lesion import --arch` (a
 * state_dict's weights are laid onto it; a state_dict holds weights but no architecture). A spec is one of
 * - `mlp`: (import only) every Linear of the state_dict in key order, `--activation` between them;
 * - `mlp:784-100-100-10`: layer widths, input first, classes last, ReLU between (layers fc1, fc2, …);
 * - `cnn:small`: conv(out=16,padding=1),relu,maxpool(2),conv(out=32,padding=1),relu,maxpool(2),flatten,linear(out=128),relu,linear;
 * - `vgg:16-16-M-32-32-M-64-M-fc64` (VGG, Simonyan & Zisserman 2015, with BatchNorm as torchvision's vgg*_bn): a number
 *   is a 3×3 conv of that many channels (padding 1) + BatchNorm + ReLU, `M` a 2×2 max-pool, `fcN` a hidden Linear of N
 *   + ReLU after the flatten, then the Linear to the classes; layers named as PyTorch's `features.i`/`classifier.i`.
 *   `vgg:small` = `vgg:16-16-M-32-32-M-64-M-fc64` (the VGG-BN fixture of test/fixtures/cnn);
 * - a comma-separated layer list: `conv[(out=,kernel=,stride=,padding=)]` (positional: stride, padding), `bn`,
 *   `linear[(out=,in=)]`, `relu`, `leakyrelu[(alpha)]`, `tanh`, `sigmoid`, `gelu` (nn.GELU(), the erf form), `silu`,
 *   `dropout[(p)]`, `maxpool(K[,stride=S])`,
 *   `avgpool(K[,stride=S])`, `flatten`, e.g. `conv(padding=1),bn,relu,maxpool(2),flatten,linear,relu,linear`.
 * For import, conv, bn and linear take the next parameter group of the state_dict in key order (`conv1.weight`,
 * `conv1.bias`, …) and shapes come from the weights (an `out`, `in` or `kernel` given is checked against them); for
 * train, every conv and linear needs `out` but the last linear (the classes), and conv's kernel defaults to 3.
 */
import { fail } from "../errors.js";
import type { LayerSpec } from "../onnx/build.js";
import type { StateDict, StateTensor } from "./torch/types.js";

/** One layer of a parsed architecture spec (`parseArch`); sizes left out are read from the weights (import) or defaulted (train). */
export type ArchToken =
  | { op: "conv"; stride: number; padding: number; out?: number; kernel?: number; name?: string }
  | { op: "linear"; out?: number; in?: number; name?: string }
  | { op: "bn"; name?: string }
  | { op: "relu" | "tanh" | "sigmoid" | "gelu" | "silu" | "flatten" }
  | { op: "dropout"; p: number }
  | { op: "leakyrelu"; alpha: number }
  | { op: "maxpool" | "avgpool"; kernel: number; stride: number };

/** The activation between the Linear layers of a bare `mlp` import (`ImportOptions.activation`). */
export type Activation = "relu" | "tanh" | "sigmoid" | "leakyrelu" | "gelu" | "silu";

export const ARCH_HELP = "expected 'mlp', mlp:784-100-10 (layer widths), cnn:small, vgg:small or vgg:16-M-32-M-fc64, resnet (import: a ResNet's state_dict), or a layer list like conv(padding=1),bn,relu,maxpool(2),flatten,linear,relu,linear";

const LAYERS = ["conv", "bn", "linear", "relu", "leakyrelu", "tanh", "sigmoid", "gelu", "silu", "dropout", "maxpool", "avgpool", "flatten"];

const NAMED: Record<string, string> = {
  "cnn:small": "conv(out=16,padding=1),relu,maxpool(2),conv(out=32,padding=1),relu,maxpool(2),flatten,linear(out=128),relu,linear",
  "vgg:small": "vgg:16-16-M-32-32-M-64-M-fc64",
};

/**
 * Parses a spec (grammar above) into layer tokens; bare `mlp` needs the state_dict to know how many layers, so it is
 * returned as null here.
 * @throws LesionError `bad-arch` naming the token that cannot be read.
 */
export function parseArch(text: string): ArchToken[] | null {
  const spec = NAMED[text.trim()] ?? text.trim();
  if (spec === "mlp") return null;
  if (/^resnet(:|$)/.test(spec)) fail("bad-arch", "`resnet` is read by import only (it builds a state_dict's ResNet); lesion trains chains of layers: give a layer list, mlp:…, cnn:small or vgg:…", { arch: text });
  if (spec === "") fail("bad-arch", `empty architecture; ${ARCH_HELP}`);
  const family = /^(mlp|cnn|vgg):(.*)$/.exec(spec);
  if (family?.[1] === "mlp") return mlpWidths(text, family[2]);
  if (family?.[1] === "vgg") return vggTokens(text, family[2]);
  const word = /^([a-z]+)(\(|$)/.exec(spec)?.[1];
  if (family || (!spec.includes(",") && word && !LAYERS.includes(word))) fail("bad-arch", `unknown architecture '${text}'; ${ARCH_HELP}`, { arch: text });
  return splitTopLevel(spec).map((token) => parseToken(token.trim(), spec));
}

function mlpWidths(arch: string, rest: string): ArchToken[] {
  const widths = rest.split("-").map(Number);
  if (widths.length < 2 || widths.some((x) => !Number.isInteger(x) || x < 1)) fail("bad-arch", `cannot read '${arch}'; ${ARCH_HELP}`, { arch });
  const tokens: ArchToken[] = [{ op: "flatten" }];
  for (let i = 1; i < widths.length; i++) {
    tokens.push({ op: "linear", out: widths[i], ...(i === 1 ? { in: widths[0] } : {}) });
    if (i < widths.length - 1) tokens.push({ op: "relu" });
  }
  return tokens;
}

function vggTokens(arch: string, rest: string): ArchToken[] {
  const features: ArchToken[] = [];
  const classifier: ArchToken[] = [{ op: "flatten" }];
  for (const item of rest.split("-")) {
    const fc = /^fc(\d+)$/.exec(item);
    if (item === "M" && classifier.length === 1) features.push({ op: "maxpool", kernel: 2, stride: 2 });
    else if (/^\d+$/.test(item) && Number(item) > 0 && classifier.length === 1) features.push({ op: "conv", out: Number(item), kernel: 3, stride: 1, padding: 1, name: `features.${features.length}` }, { op: "bn", name: `features.${features.length + 1}` }, { op: "relu" });
    else if (fc && Number(fc[1]) > 0) classifier.push({ op: "linear", out: Number(fc[1]), name: `classifier.${classifier.length}` }, { op: "relu" });
    else fail("bad-arch", `cannot read '${item}' in '${arch}': a vgg item is a channel count (3x3 conv + BN + ReLU), M (2x2 max-pool) or fcN (a hidden linear layer, after the convs); ${ARCH_HELP}`, { arch, token: item });
  }
  if (!features.some((t) => t.op === "conv")) fail("bad-arch", `'${arch}' has no conv layer; ${ARCH_HELP}`, { arch });
  classifier.push({ op: "linear", name: `classifier.${classifier.length}` });
  return [...features, ...classifier];
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
  const allowed: Record<string, string[]> = { conv: ["stride", "padding", "out", "kernel"], maxpool: ["kernel", "stride"], avgpool: ["kernel", "stride"], leakyrelu: ["alpha"], linear: ["out", "in"], dropout: ["p"] };
  const unknown = Object.keys(named).find((key) => !(allowed[op] ?? []).includes(key));
  if (unknown !== undefined) fail("bad-arch", `layer '${token}' takes no argument '${unknown}'${allowed[op] ? ` (it takes ${allowed[op].join(", ")})` : ""}`, { token });
  const int = (value: number, what: string, min = 0) => {
    if (!Number.isInteger(value) || value < min) fail("bad-arch", `layer '${token}' needs a whole ${what}${min > 0 ? ` of at least ${min}` : ""}, got ${value}`, { token });
    return value;
  };
  const optional = (value: number | undefined, what: string) => (value === undefined ? {} : { [what]: int(value, what, 1) });
  switch (op) {
    case "conv":
      return { op, stride: int(named.stride ?? positional[0] ?? 1, "stride", 1), padding: int(named.padding ?? positional[1] ?? 0, "padding"), ...optional(named.out, "out"), ...optional(named.kernel, "kernel") };
    case "linear":
      return { op, ...optional(named.out, "out"), ...optional(named.in, "in") };
    case "maxpool":
    case "avgpool": {
      const kernel = int(named.kernel ?? positional[0] ?? NaN, "kernel size", 1);
      return { op, kernel, stride: int(named.stride ?? positional[1] ?? kernel, "stride", 1) };
    }
    case "leakyrelu":
      return { op, alpha: named.alpha ?? positional[0] ?? 0.01 };
    case "dropout": {
      const p = named.p ?? positional[0] ?? 0.5;
      if (!(p >= 0 && p < 1)) fail("bad-arch", `layer '${token}' needs a drop probability in [0, 1), got ${p}`, { token });
      return { op, p };
    }
    case "bn":
    case "relu":
    case "tanh":
    case "sigmoid":
    case "gelu":
    case "silu":
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

/**
 * Refuses a state_dict a chain of layers cannot hold, before any shape is guessed from it: tensors of a module that
 * is no linear, conv or batch-norm layer (an LSTM's `weight_ih_l0`, an embedding without `weight` …), which the
 * chain would drop, and a residual network's blocks (torchvision's `layer1.0.conv1`, `downsample`/`shortcut`
 * modules), which a chain would import as a different network.
 * @throws LesionError `bad-arch`, naming the tensors.
 */
export function checkChain(state: StateDict, path: string): void {
  const groups = new Set(parameterGroups(state).map((g) => g.name));
  const foreign = state.filter((t) => {
    const dot = t.name.lastIndexOf(".");
    return !(dot > 0 && groups.has(t.name.slice(0, dot))) && !t.name.endsWith("num_batches_tracked");
  });
  const list = (names: string[]) => names.slice(0, 4).join(", ") + (names.length > 4 ? `, … (${names.length})` : "");
  if (foreign.length > 0) {
    fail("bad-arch", `${path} has tensors no linear, conv or batch-norm layer takes: ${list(foreign.map((t) => t.name))}; a layer list cannot build that module (a recurrent layer, an embedding, …): export the model to ONNX (torch.onnx.export) instead`, { tensor: foreign[0].name });
  }
  const residual = state.filter((t) => /(^|\.)(downsample|shortcut)\./.test(t.name) || /^layer\d+\.\d+\.(conv|bn)\d/.test(t.name));
  if (residual.length > 0) {
    fail("bad-arch", `${path} holds a residual network's blocks (${list(residual.map((t) => t.name))}): a layer list builds a chain and cannot express their skip connections; give \`arch\` resnet (torchvision's and the common CIFAR ResNets), or export the model to ONNX (torch.onnx.export)`, { tensor: residual[0].name, options: ["arch"] });
  }
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
        checkGiven(group.name, "outputs", token.out, out);
        checkGiven(group.name, "inputs", token.in, inp);
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
        checkGiven(group.name, "output channels", token.out, out);
        checkGiven(group.name, "kernel size", token.kernel, kh);
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

/** A width the spec gives must be the checkpoint's. */
function checkGiven(layer: string, what: string, given: number | undefined, actual: number): void {
  if (given !== undefined && given !== actual) fail("bad-arch", `layer ${layer} has ${actual} ${what} in the checkpoint but the architecture says ${given}`, { layer });
}

function mlpTokens(groups: ParameterGroup[], activation: Activation): ArchToken[] {
  if (groups.length === 0) fail("bad-arch", "the checkpoint has no weights to build an MLP from");
  const act: ArchToken = activation === "leakyrelu" ? { op: "leakyrelu", alpha: 0.01 } : { op: activation };
  return groups.flatMap((_, i) => (i < groups.length - 1 ? [{ op: "linear" as const }, act] : [{ op: "linear" as const }]));
}

/** A conv's or pool's output size along one axis (PyTorch's floor formula). */
export function convSize(size: number, kernel: number, stride: number, padding: number): number {
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
