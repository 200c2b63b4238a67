/**
 * Probability heads. lesion's loss is the softmax cross-entropy of logits, −log softmax(z)[y] (natural log), and its
 * predictions are arg max z. Many exported classifiers end in a probability head instead: Softmax (Keras
 * `activation="softmax"`, PyTorch `nn.Softmax`), LogSoftmax (PyTorch `log_softmax` + NLL), or for one-output binary
 * models Sigmoid. Applying softmax cross-entropy to probabilities computes softmax twice, so at opening the head is
 * read back to the logits before it, and the graph rewritten to output those:
 * - softmax: −log p_y = −log softmax(z)_y, so the loss of the logits z is the network's own. The Softmax is removed
 *   (the graph output becomes z; behind Identity/Reshape/Flatten/Squeeze/float Cast, or where z is itself an output, it becomes
 *   an Identity) — exact, and the fast dense engine applies to an MLP ending in Softmax like to one ending in its
 *   last layer.
 * - log-softmax: left as it is; log-softmax is idempotent under softmax cross-entropy (its loss is already −log p_y).
 * - sigmoid (output [N] or [N, 1], p = σ(z) = P(class 1)): the Sigmoid becomes an Identity and the output the two
 *   logits [0, z] (softmax([0, z]) = [1 − σ(z), σ(z)]), so the loss is the binary cross-entropy −log p or −log(1 − p)
 *   and the prediction is class 1 exactly when p > 0.5.
 * - one-logit (output [N] or [N, 1] with no Sigmoid: `BCEWithLogitsLoss`'s model): read as the sigmoid head's two
 *   logits [0, z] likewise (`readOneLogit`).
 * A Sigmoid head over several outputs (multi-label) is not a probability distribution over classes and is left as
 * the output ("logits").
 */
import { fail } from "../errors.js";
import { indexGraph, type GraphIndex } from "./graph.js";
import { attributeInt, DataType, defaultOpset, makeNode, valueInfoShape, type ModelProto, type NodeProto } from "./proto.js";

/** What the classifier output of a graph is, as found at opening. */
export type HeadKind = "logits" | "softmax" | "log-softmax" | "sigmoid" | "one-logit";

/** The classifier output a graph had, as found (and rewritten to logits) at opening; see this module's comment. */
export interface Head {
  /** What the output was: logits, or the probability head read back to them. */
  kind: HeadKind;
  /** The Softmax/LogSoftmax/Sigmoid node's name ("" for logits). */
  node: string;
  /** For softmax: the tensor the Softmax read (the logits), with the axis and opset its check at opening needs. */
  logits: string | null;
  /** The Softmax's `axis` attribute (0 for other heads). */
  axis: number;
  /** The graph's ai.onnx opset (13 when it names none): before 13 a Softmax normalises over the axes from `axis` on. */
  opset: number;
}

/**
 * Ops that only rearrange a head's values (one sample's values stay one sample's, in order), and the float Cast a
 * float16 model converted with `keep_io_types` ends in.
 */
const PASS_THROUGH = new Set(["Identity", "Reshape", "Flatten", "Squeeze", "Cast"]);
const FLOAT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
const passesThrough = (node: NodeProto) => PASS_THROUGH.has(node.opType ?? "") && (node.opType !== "Cast" || FLOAT_TYPES.has(attributeInt(node, "to", 0)));

/**
 * Finds the head of the graph's first output, walking back through pass-through ops that have no other consumer, and
 * rewrites the graph in place so that its first output gives logits (see the module comment). Returns what it found.
 */
export function normalizeHead(model: ModelProto): Head {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const output = index.outputs[0];
  const opset = defaultOpset(model);
  const plain: Head = { kind: "logits", node: "", logits: null, axis: 0, opset };
  // Each tensor rewritten must feed the chain alone: nothing else may see logits where it saw probabilities.
  const sole = (tensor: string) => (index.consumers.get(tensor) ?? []).length === 1 && !index.outputs.includes(tensor);
  let tensor = output;
  let node = index.producer.get(tensor);
  let passed = 0;
  while (node && passesThrough(node) && sole(node.input?.[0] ?? "")) {
    tensor = node.input![0];
    node = index.producer.get(tensor);
    passed++;
  }
  if (!node || (index.consumers.get(output) ?? []).length > 0) return plain;
  const op = node.opType ?? "";
  if (op === "LogSoftmax") return { ...plain, kind: "log-softmax", node: node.name ?? "" };
  if (op === "Softmax") {
    const logits = node.input![0];
    const axis = attributeInt(node, "axis", opset >= 13 ? -1 : 1);
    // Rewired only where the logits are not an output already (a model returning both would list them twice).
    if (passed === 0 && !index.outputs.includes(logits)) {
      graph.node!.splice(graph.node!.indexOf(node), 1);
      graph.output![0].name = logits;
    } else toIdentity(node);
    return { kind: "softmax", node: node.name ?? "", logits, axis, opset };
  }
  if (op === "Sigmoid" && oneOutput(valueInfoShape(graph.output![0]))) {
    toIdentity(node);
    twoLogits(model, index, output);
    return { kind: "sigmoid", node: node.name ?? "", logits: null, axis: 0, opset };
  }
  return plain;
}

/**
 * One output logit with no Sigmoid after it (PyTorch's `BCEWithLogitsLoss` setup): z with P(class 1) = σ(z), read as
 * the sigmoid head's two logits [0, z], so the loss is the binary cross-entropy and class 1 is predicted where z > 0.
 * A graph whose one output is a Sigmoid (`normalizeHead`'s sigmoid) or is read by another node is left alone.
 */
export function readOneLogit(model: ModelProto, head: Head): Head {
  const graph = model.graph!;
  const index = indexGraph(graph);
  const output = index.outputs[0];
  if (head.kind !== "logits" || (index.consumers.get(output) ?? []).length > 0 || !oneOutput(valueInfoShape(graph.output![0]))) return head;
  twoLogits(model, index, output);
  return { ...head, kind: "one-logit" };
}

/** Rewrites the graph's output `output` (one score per sample) into the two logits [0, score]. */
function twoLogits(model: ModelProto, index: GraphIndex, output: string): void {
  const graph = model.graph!;
  const scores = `${output}::score`;
  const producer = index.producer.get(output)!;
  producer.output = producer.output!.map((o) => (o === output ? scores : o));
  graph.node!.push(
    makeNode("Flatten", [scores], [`${output}::z`], "lesion/head/Flatten", { axis: 1 }),
    makeNode("Sub", [`${output}::z`, `${output}::z`], [`${output}::zero`], "lesion/head/Sub"),
    makeNode("Concat", [`${output}::zero`, `${output}::z`], [output], "lesion/head/Concat", { axis: 1 }),
  );
  const dims = graph.output![0].type?.tensorType?.shape?.dim;
  if (dims) {
    const batch = dims[0];
    graph.output![0].type!.tensorType!.shape!.dim = [batch, { dimValue: 2 }];
  }
}

/**
 * Checks, once the softmax's input shape is known (one sample, batch axis included), that the removed Softmax
 * normalised over the K class entries and nothing else; throws `bad-model` otherwise. Opset < 13 Softmax normalises
 * over the input flattened from `axis` on; opset ≥ 13 over `axis` alone.
 */
export function checkHead(head: Head, dims: readonly number[], k: number, name: string): void {
  if (head.kind !== "softmax") return;
  const rank = dims.length;
  const axis = head.axis < 0 ? head.axis + rank : head.axis;
  const before = dims.slice(1, Math.max(1, axis)).reduce((a, b) => a * b, 1);
  const over = head.opset >= 13 ? dims[axis] : dims.slice(axis).reduce((a, b) => a * b, 1);
  if (axis >= 1 && axis < rank && before === 1 && over === k) return;
  fail("bad-model", `${name} ends in a Softmax over axis ${head.axis} of [${dims.join(", ")}], not over its ${k} classes; lesion cannot read its output as class probabilities`, { name });
}

function oneOutput(shape: Array<number | string> | null): boolean {
  return shape !== null && (shape.length === 1 || (shape.length === 2 && shape[1] === 1));
}

function toIdentity(node: NodeProto): void {
  node.opType = "Identity";
  node.attribute = [];
  node.domain = "";
}
