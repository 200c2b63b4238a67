/**
 * Sites: the tensors of a graph that carry units. A site is the output of an activation node, or the output of a
 * layer (Gemm/MatMul/Conv with a constant weight) that no activation follows. A site that is the activation of a
 * layer is named after that layer, so an imported MLP's `fc1` is the ReLU output of the Linear `fc1`; a bias Add, a
 * BatchNormalization (or one folded into a Mul and an Add), a Dropout or a Transpose between layer and activation
 * belongs to the layer (tailInput, layerBehind). Names come, in order of preference, from the
 * layer's weight initializer (`fc1.weight` → `fc1`, the PyTorch convention), the framework's layer name in the node
 * name (PyTorch's module path `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`, Keras's `sequential/dense_1/MatMul` →
 * `dense_1`; see `scopeName`), and last the op type and position (`gemm3`). An activation after a residual join is
 * named after the block whose forward adds the two branches (`layer2.1`, see `residualBlockName`).
 *
 * An activation that an exporter writes as several elementwise nodes (torch.onnx before opset 20 writes GELU as
 * x·0.5·(1 + erf(x/√2)): Div, Erf, Add, Mul, Mul; SiLU as x·sigmoid(x)) is one site too: the output of its last node
 * (`compositeActivations`). Its inner nodes are not sites, and the layer before it is not a site of its own: without
 * this, the site was the layer's pre-activation output and mean ablation and recording described the wrong tensor.
 */
import { indexGraph, type GraphIndex } from "./graph.js";
import { attributeInts, type GraphProto, type NodeProto } from "./proto.js";

export const ACTIVATION_OPS = new Set(["Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu", "Celu", "ThresholdedRelu", "Clip", "HardSigmoid", "HardSwish", "Softplus", "Mish"]);
export const LAYER_OPS = new Set(["Gemm", "MatMul", "Conv", "ConvTranspose"]);
/**
 * The computed input of a node between a layer and its activation that still belongs to the layer, or null: a bias
 * Add or a scale Mul (one input constant: a batch norm folded into the two, as some exporters write it), a Sub or Div
 * by a constant, BatchNormalization, Identity and Dropout (evaluation). An Add of two computed tensors is a residual
 * join, not a bias: what follows it is not one layer's.
 */
function tailInput(node: NodeProto, index: GraphIndex): string | null {
  const [first, second] = node.input ?? [];
  const constant = (name: string | undefined) => name !== undefined && index.initializers.has(name);
  switch (node.opType) {
    case "BatchNormalization":
    case "Identity":
    case "Dropout":
      return first ?? null;
    case "Add":
    case "Mul":
      return constant(first) !== constant(second) ? (constant(first) ? second : first) : null;
    case "Sub":
    case "Div":
      return constant(second) && !constant(first) ? first : null;
    default:
      return null;
  }
}

/** A site as the graph alone defines it; the engine adds its shape by running the graph. */
export interface SiteLocation {
  /** Readable, stable name used everywhere (API, CLI, files, report). */
  name: string;
  /** The tensor that carries the units. */
  tensor: string;
  /** The node that produces the tensor. */
  node: string;
  /** The layer node (Gemm/MatMul/Conv) whose output this is or whose activation this is, if any. */
  layer: string | null;
  /** The op that produces the tensor (Relu, Gemm, …). */
  op: string;
}

export function locateSites(graph: GraphProto): SiteLocation[] {
  const index = indexGraph(graph);
  const nodes = graph.node ?? [];
  // `join`: named after the block whose residual Add it follows or is (residualBlockName).
  const found: Array<Omit<SiteLocation, "name"> & { base: string; join?: boolean }> = [];
  const composites = compositeActivations(graph, index);
  const inner = new Set<NodeProto>();
  const byLast = new Map<NodeProto, CompositeActivation>();
  for (const composite of composites.values()) {
    for (const node of composite.nodes) inner.add(node);
    byLast.set(composite.last, composite);
  }
  const isActivation = (node: NodeProto) => byLast.has(node) || (ACTIVATION_OPS.has(node.opType ?? "") && !inner.has(node));
  const activationInput = (node: NodeProto) => byLast.get(node)?.input ?? node.input?.[0] ?? "";
  // A layer whose activation follows a Transpose is no site of its own, as one the activation follows directly.
  const claimed = new Set(nodes.filter(isActivation).map((node) => layerBehind(activationInput(node), index, true)));
  nodes.forEach((node, position) => {
    const composite = byLast.get(node);
    const op = composite?.op ?? node.opType ?? "";
    if (isActivation(node)) {
      const input = activationInput(node);
      const layer = layerBehind(input, index);
      found.push({
        ...blockOr(layer ? null : residualBlockName(input, index), () => moduleName(layer ?? node, index, position)),
        tensor: node.output![0],
        node: node.name ?? "",
        layer: layer?.name ?? null,
        op,
      });
    } else if (isResidualJoin(node, index) && !inner.has(node)) {
      // A block's output where no activation follows its residual Add (MobileNetV2's inverted residual, ConvNeXt): the
      // block is a site of its own, as a ResNet block's ReLU after its Add is.
      const output = node.output![0];
      const next = index.consumers.get(output) ?? [];
      if (composites.has(output) || next.some((n) => ACTIVATION_OPS.has(n.opType ?? ""))) return;
      found.push({ ...blockOr(residualBlockName(output, index), () => scopeName(node.name ?? "", "Add") ?? `add${position}`), tensor: output, node: node.name ?? "", layer: null, op });
    } else if (isLayer(node, index)) {
      const end = layerEnd(node, index);
      const next = index.consumers.get(end) ?? [];
      if (claimed.has(node) || composites.has(end) || next.some((n) => ACTIVATION_OPS.has(n.opType ?? ""))) return;
      found.push({ base: moduleName(node, index, position), tensor: end, node: index.producer.get(end)?.name ?? "", layer: node.name ?? null, op });
    }
  });
  // A block with two residual Adds (a transformer block: after attention, after the MLP) names its output, the last of
  // them, after the block (`blocks.0`); an earlier one takes its node's name within the block (`blocks.0.add`), not
  // the block's name with the output as `blocks.0_1`.
  const lastOfBlock = new Map<string, number>();
  found.forEach((f, i) => f.join && lastOfBlock.set(f.base, i));
  found.forEach((f, i) => {
    if (f.join && lastOfBlock.get(f.base) !== i) f.base = `${f.base}.${(f.node.split("/").pop() ?? f.op).toLowerCase()}`;
  });
  qualifyNestedScopes(found);
  // A repeated name is numbered, skipping numbers that are another site's name (a trial's tf2onnx graph had two
  // sites named `conv2d_1`: the second `conv2d` numbered, and the layer `conv2d_1` itself).
  const bases = new Set(found.map((f) => f.base));
  const taken = new Set<string>();
  return found.map(({ base, join: _join, ...rest }) => {
    let name = base;
    for (let count = 1; taken.has(name); count++) {
      name = `${base}_${count}`;
      if (bases.has(name)) name = base;
    }
    taken.add(name);
    return { name, ...rest };
  });
}

/**
 * Sites whose names meet and whose layers are named by tf2onnx scopes (`model/encoder/fc/MatMul`,
 * `model/decoder/fc/MatMul`: Keras layers of one name in nested models) take as many enclosing scopes as make them
 * distinct (`encoder/fc`, `decoder/fc`), where they had been numbered `fc`, `fc_1`, names no layer of the model has.
 */
function qualifyNestedScopes(found: Array<{ base: string; node: string; layer: string | null }>): void {
  const byBase = new Map<string, typeof found>();
  for (const f of found) byBase.set(f.base, [...(byBase.get(f.base) ?? []), f]);
  for (const [base, group] of byBase) {
    if (group.length < 2) continue;
    const scopes = group.map((f) => {
      const name = f.layer ?? f.node;
      const segments = name.split("/").filter((x) => x.length > 0).slice(0, -1);
      return !name.startsWith("/") && segments[segments.length - 1] === base ? segments : null;
    });
    if (scopes.some((x) => x === null)) continue;
    // Each the fewest scopes no other site of the group ends in (names of different lengths cannot meet).
    const suffix = (i: number, depth: number) => scopes[i]!.slice(-depth).join("/");
    group.forEach((f, i) => {
      for (let depth = 2; depth <= scopes[i]!.length; depth++) {
        const name = suffix(i, depth);
        if (group.every((_, j) => j === i || suffix(j, depth) !== name)) return void (f.base = name);
      }
    });
  }
}

/** Elementwise ops an activation written as several nodes is made of. */
const ELEMENTWISE_OPS = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Softplus", "HardSigmoid", "Relu", "Min", "Max", "Clip", "Identity", "Cast"]);
/** Its nonlinear ops: at least one must be among its nodes. */
const NONLINEAR_OPS = new Set(["Erf", "Tanh", "Sigmoid", "Softplus", "Exp", "Log", "HardSigmoid", "Relu", "Min", "Max", "Clip", "Abs"]);

/** An activation written as several elementwise nodes of one tensor (compositeActivations). */
export interface CompositeActivation {
  /** The tensor it is a function of (the layer's output). */
  input: string;
  /** Its nodes, in graph order; `last` produces the activation. */
  nodes: NodeProto[];
  last: NodeProto;
  /** What it computes, as the op would be named: Gelu (erf or tanh form), Silu, Mish, HardSwish, else Activation. */
  op: string;
}

/**
 * Activations written as several elementwise nodes, by their input tensor. One is found where a tensor x feeds two or
 * more distinct nodes, all elementwise, and the nodes computed from x and constants alone (closed under that rule)
 * have one output used outside them (y = f(x) elementwise, f nonlinear): x·0.5·(1 + erf(x/√2)) (GELU), x·sigmoid(x)
 * (SiLU), x·tanh(softplus(x)) (Mish), GELU's tanh form. A single activation node (Relu, Gelu, …) is not one: it is a
 * site as it is. A tensor that also feeds other nodes (a residual branch) has none.
 */
export function compositeActivations(graph: GraphProto, index: GraphIndex = indexGraph(graph)): Map<string, CompositeActivation> {
  const found = new Map<string, CompositeActivation>();
  const order = new Map((graph.node ?? []).map((node, position) => [node, position]));
  const candidates = new Set<string>();
  for (const node of graph.node ?? []) for (const input of node.input ?? []) if (input && !index.initializers.has(input)) candidates.add(input);
  for (const x of candidates) {
    const first = [...new Set(index.consumers.get(x) ?? [])];
    if (first.length < 2 || !first.every((n) => ELEMENTWISE_OPS.has(n.opType ?? ""))) continue;
    const members = new Set<NodeProto>();
    const made = new Set<string>([x]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const tensor of [...made]) {
        for (const node of index.consumers.get(tensor) ?? []) {
          if (members.has(node) || !ELEMENTWISE_OPS.has(node.opType ?? "")) continue;
          if (!(node.input ?? []).every((i) => i === "" || made.has(i) || index.initializers.has(i))) continue;
          members.add(node);
          for (const o of node.output ?? []) made.add(o);
          grew = true;
        }
      }
    }
    if (!first.every((n) => members.has(n))) continue;
    const outputs = [...made].filter((t) => t !== x && ((index.consumers.get(t) ?? []).some((n) => !members.has(n)) || index.outputs.includes(t)));
    if (outputs.length !== 1) continue;
    const nodes = [...members].sort((a, b) => order.get(a)! - order.get(b)!);
    const ops = new Set(nodes.map((n) => n.opType ?? ""));
    if (![...ops].some((op) => NONLINEAR_OPS.has(op))) continue;
    const last = index.producer.get(outputs[0])!;
    // GELU's tanh form takes x³ (x·x·x, or Pow(x, 3)).
    const cubic = nodes.some((n) => (n.opType === "Pow" && n.input?.[0] === x) || (n.opType === "Mul" && n.input?.[0] === x && n.input?.[1] === x));
    found.set(x, { input: x, nodes, last, op: compositeName(ops, cubic) });
  }
  // One inside another (a tensor within GELU's tanh form that feeds two of its nodes) is part of the outer one.
  const inner = new Set([...found.values()].flatMap((c) => c.nodes.filter((n) => n !== c.last)));
  for (const x of [...found.keys()]) if (inner.has(index.producer.get(x)!)) found.delete(x);
  return found;
}

function compositeName(ops: Set<string>, cubic: boolean): string {
  if (ops.has("Erf")) return "Gelu";
  if (ops.has("Tanh") && (ops.has("Softplus") || (ops.has("Exp") && ops.has("Log")))) return "Mish";
  if (ops.has("Tanh") && cubic) return "Gelu";
  if (ops.has("Sigmoid")) return "Silu";
  if (ops.has("HardSigmoid")) return "HardSwish";
  return "Activation";
}

/** An Add of two computed tensors (no constant input): a residual join, not a bias. */
function isResidualJoin(node: NodeProto, index: GraphIndex): boolean {
  const inputs = node.input ?? [];
  return node.opType === "Add" && inputs.length === 2 && inputs.every((i) => i && !index.initializers.has(i) && index.producer.has(i));
}

/** Ops that keep each value where it is (elementwise, or normalising per position), walked through by unitsOnLastAxis. */
const POSITIONAL_OPS = new Set([...ELEMENTWISE_OPS, ...ACTIVATION_OPS, "BatchNormalization", "LayerNormalization", "Dropout"]);

/**
 * Whether a site tensor of rank 3 or more has its units on the last axis: the first layer it comes from, walking back
 * through elementwise and normalising ops (and both sides of a residual Add), is a MatMul (a Linear acts on the last
 * axis: ConvNeXt's pointwise layers after a permute, a transformer's [N, T, D]) rather than a Conv (channels on axis 1).
 * A Transpose on the way moves the units with its permutation, a Concat keeps them, a Reshape keeps a Conv's channels
 * on axis 1 (a ViT's patch embedding, Conv then flatten(2) and transpose(1, 2), makes [N, T, D] tokens with the
 * channels last: its first block's residual Add had been given the tokens as units). False where no layer is found
 * that way: axis 1, NCHW's channels.
 */
export function unitsOnLastAxis(tensor: string, index: GraphIndex): boolean {
  const seen = new Set<string>();
  const walk = (t: string, depth: number): Axis => {
    if (depth > 64 || seen.has(t)) return null;
    seen.add(t);
    const node = index.producer.get(t);
    if (!node) return null;
    const op = node.opType ?? "";
    if (op === "MatMul") return "last";
    if (op === "Conv" || op === "ConvTranspose" || op === "Gemm") return "first";
    if (op === "Transpose") return transposed(walk(node.input?.[0] ?? "", depth + 1), attributeInts(node, "perm", []));
    if (op === "Reshape" || op === "Flatten") return walk(node.input?.[0] ?? "", depth + 1) === "first" ? "first" : null;
    if (!POSITIONAL_OPS.has(op) && op !== "Concat") return null;
    for (const input of node.input ?? []) {
      if (!input || index.initializers.has(input)) continue;
      const found = walk(input, depth + 1);
      if (found !== null) return found;
    }
    return null;
  };
  return walk(tensor, 0) === "last";
}

/** Where a tensor's units are, as unitsOnLastAxis walks back: axis 1, the last axis, or not known. */
type Axis = "first" | "last" | null;

/** Where a Transpose of permutation `perm` puts units that were on `axis` of its input: axis 1 or the last, else unknown. */
function transposed(axis: Axis, perm: number[]): Axis {
  if (axis === null || perm.length < 3) return null;
  const from = axis === "first" ? 1 : perm.length - 1;
  const to = perm.indexOf(from);
  return to === 1 ? "first" : to === perm.length - 1 ? "last" : null;
}

/** A site's base name: the block's (residualBlockName) marked as such, else the fallback's. */
function blockOr(block: string | null, fallback: () => string): { base: string; join?: boolean } {
  return block !== null ? { base: block, join: true } : { base: fallback() };
}

function isLayer(node: NodeProto, index: GraphIndex): boolean {
  return LAYER_OPS.has(node.opType ?? "") && (node.input ?? []).slice(0, 2).some((input) => index.initializers.has(input) || isConstantPath(input, index));
}

/** A weight that reaches the layer through Transpose/Cast/Identity of an initializer is still constant. */
function isConstantPath(tensor: string, index: GraphIndex): boolean {
  const node = index.producer.get(tensor);
  if (!node || !["Transpose", "Cast", "Identity", "DequantizeLinear"].includes(node.opType ?? "")) return false;
  const input = node.input?.[0] ?? "";
  return index.initializers.has(input) || isConstantPath(input, index);
}

/**
 * Walks back from an activation's input through bias/batch-norm to the layer that feeds it. A Transpose on the way
 * (tf2onnx's NHWC graphs before its optimiser: Conv, Transpose to NHWC, bias Add, Relu) is walked through where the
 * layer's units end on axis 1 or the last axis, as unitsOnLastAxis then finds them. With `onlyThroughTranspose`,
 * only a layer found through a Transpose.
 */
function layerBehind(tensor: string, index: GraphIndex, onlyThroughTranspose = false): NodeProto | null {
  let current = index.producer.get(tensor);
  const perms: number[][] = [];
  while (current) {
    if (isLayer(current, index)) return perms.length === 0 ? (onlyThroughTranspose ? null : current) : unitsAxisKept(current, perms) ? current : null;
    if (current.opType === "Transpose") {
      perms.push(attributeInts(current, "perm", []));
      current = index.producer.get(current.input?.[0] ?? "");
      continue;
    }
    const next = tailInput(current, index);
    if (next === null) return null;
    current = index.producer.get(next);
  }
  return null;
}

/**
 * Whether a layer's units, moved by Transposes (`perms`, last applied first: as layerBehind met them walking back),
 * end on axis 1 or the last axis: MatMul's units start on the last axis, Gemm's and Conv's on axis 1.
 */
function unitsAxisKept(layer: NodeProto, perms: number[][]): boolean {
  const rank = perms[0].length;
  if (rank < 2 || perms.some((perm) => perm.length !== rank)) return false;
  let axis = layer.opType === "MatMul" ? rank - 1 : 1;
  for (const perm of [...perms].reverse()) axis = perm.indexOf(axis);
  return axis === 1 || axis === rank - 1;
}

/** The last tensor of a layer: its output, or that of the bias Add, batch norm or other tailInput nodes that follow alone. */
function layerEnd(layer: NodeProto, index: GraphIndex): string {
  let tensor = layer.output![0];
  for (;;) {
    const consumers = index.consumers.get(tensor) ?? [];
    if (consumers.length !== 1) return tensor;
    const next = consumers[0];
    if (tailInput(next, index) !== tensor) return tensor;
    if (index.outputs.includes(tensor)) return tensor;
    tensor = next.output![0];
  }
}

/**
 * The block an activation after a residual join belongs to: the join (an Add of two computed tensors) is written in
 * the block's own forward, so its scope is the block (`/layer2/layer2.1/Add` → `layer2.1`). The block's output is
 * then named `layer2.1` rather than after its ReLU module, which torchvision's BasicBlock calls twice (torch.onnx
 * writes the second call as `relu_1`, a name no `named_modules()` has). Null when the join carries no torch.onnx scope.
 */
function residualBlockName(tensor: string, index: GraphIndex): string | null {
  const join = index.producer.get(tensor);
  if (!join || join.opType !== "Add" || (join.input ?? []).some((i) => index.initializers.has(i))) return null;
  // Only torch.onnx module paths: a Keras Add is a layer of its own (`add_1`), and its activation keeps its name.
  if (!(join.name ?? "").startsWith("/")) return null;
  return scopeName(join.name ?? "", "Add");
}

function moduleName(node: NodeProto, index: GraphIndex, position: number): string {
  for (const input of (node.input ?? []).slice(1)) {
    const match = /^(.+)\.(weight|bias)$/.exec(input);
    if (match && index.initializers.has(input)) return match[1];
  }
  return scopeName(node.name ?? "", node.opType ?? "") ?? `${(node.opType ?? "node").toLowerCase()}${position}`;
}

/**
 * The framework's layer name in a node name, or null when the name carries none.
 * - torch.onnx (1.13+, 2.x TorchScript exporter): `/layer1/layer1.0/relu/Relu` is the module scopes, then the op.
 *   A scope that extends the one before by `.x` is its child `x` (how Sequential children are written), so the module
 *   path is `layer1.0.relu`; `/fc1/Gemm` is `fc1`; `/layer1/layer1.0/downsample/downsample.0/Conv` is
 *   `layer1.0.downsample.0`.
 * - tf2onnx/keras2onnx: `sequential/dense_1/MatMul` is scopes then the op; the Keras layer is the last scope, `dense_1`.
 *   A bare `dense_1` (keras2onnx) is the layer itself.
 * - Op-type names (`Gemm_5`, torch.onnx 1.x; `MatMul__10`, tf2onnx's own nodes; `MatMul`) carry no layer name.
 */
export function scopeName(name: string, opType: string): string | null {
  const segments = name.split("/").filter((s) => s.length > 0);
  if (segments.length === 0) return null;
  if (segments.length === 1) {
    const only = segments[0];
    return only === opType || /^[A-Z][A-Za-z0-9]*_+\d+$/.test(only) ? null : only;
  }
  if (!name.startsWith("/")) return segments[segments.length - 2];
  const parts: string[] = [];
  let previous = "";
  for (const scope of segments.slice(0, -1)) {
    parts.push(previous && scope.startsWith(`${previous}.`) ? scope.slice(previous.length + 1) : scope);
    previous = scope;
  }
  return parts.join(".");
}
