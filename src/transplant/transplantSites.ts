/**
 * Donor and recipient checked against each other and the sites of a transplant resolved: the donor site (default the
 * last hidden layer), its depth among the weighted (linear and conv) layers, and the recipient site at that depth. Throws the
 * LesionErrors listed on `transplant` for mismatched inputs, classes, sites and activations.
 */
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { requireFiniteWeights, resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { networkOf, siteLayerIndex, type Network } from "../onnx/network.js";
import { checkRebase, opSignature, weightedIndices, type Weighted } from "./transplantNetwork.js";

export interface Chain {
  network: Network;
  values: Map<string, Float32Array>;
}

export interface TransplantSites {
  donorChain: Chain;
  recipientChain: Chain;
  donorSite: Site;
  /** Index of the donor layer whose output is the site. */
  donorLayer: number;
  /** Indices of the donor's weighted (linear and conv) layers. */
  donorWeighted: number[];
  /** 0-based index of the site's layer among the weighted layers. */
  depth: number;
  recipientSite: Site;
  recipientWeighted: number[];
}

export function transplantSites(donor: LesionModel, recipient: LesionModel, datasets: Dataset[], options: { site?: string; recipientSite?: string }): TransplantSites {
  // Finite weights first: with NaN ones every impact is NaN, and the population search had blamed the normalisation.
  for (const model of [donor, recipient]) requireFiniteWeights(model, "a transplant (its population search and training)");
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  if (size(donor.inputShape) !== size(recipient.inputShape)) fail("shape-mismatch", `donor ${donor.name} takes inputs of [${donor.inputShape.join(", ")}] but recipient ${recipient.name} takes [${recipient.inputShape.join(", ")}]; a transplant needs one input space`, { expected: recipient.inputShape, actual: donor.inputShape });
  const [dImage, rImage] = [donor.preprocessing.imageShape, recipient.preprocessing.imageShape];
  if (dImage && rImage && dImage.join("x") !== rImage.join("x")) fail("shape-mismatch", `donor ${donor.name} takes ${dImage.join("x")} images but recipient ${recipient.name} takes ${rImage.join("x")}; a transplant needs one input space`, { expected: rImage, actual: dImage });
  if ((dImage?.[0] ?? rImage?.[0] ?? 1) > 1 && (donor.preprocessing.layout === "nhwc") !== (recipient.preprocessing.layout === "nhwc")) fail("shape-mismatch", `donor ${donor.name} lays its input out as ${donor.preprocessing.layout} but recipient ${recipient.name} as ${recipient.preprocessing.layout}; a transplant needs one input layout`, { expected: recipient.inputShape, actual: donor.inputShape });
  if (donor.numClasses !== recipient.numClasses) fail("shape-mismatch", `donor ${donor.name} has ${donor.numClasses} classes but recipient ${recipient.name} has ${recipient.numClasses}; a transplant needs the same classes`, { expected: [recipient.numClasses], actual: [donor.numClasses] });
  for (const d of datasets) {
    if (d.numClasses !== recipient.numClasses) fail("shape-mismatch", `data ${d.spec} has ${d.numClasses} classes but the models have ${recipient.numClasses}`, { expected: [recipient.numClasses], actual: [d.numClasses] });
    if (size(d.shape) !== size(recipient.inputShape)) fail("shape-mismatch", `data ${d.spec} has images of ${d.shape.join("x")} but the models take [${recipient.inputShape.join(", ")}]`, { expected: recipient.inputShape, actual: [...d.shape] });
  }
  const donorChain = transplantChain(donor);
  const recipientChain = transplantChain(recipient);
  const donorSite = resolveSite(donor, options.site ?? lastHidden(donorChain.network));
  const donorLayer = siteLayerIndex(donorChain.network, donorSite.name);
  if (donorLayer < 0) fail("unknown-site", `site ${donorSite.name} is not the output of a linear or conv layer of ${donor.name}`, { model: donor.name, site: donorSite.name, closest: [] });
  const donorWeighted = weightedIndices(donorChain.network);
  const depthOf = (network: Network, layer: number) => weightedIndices(network).filter((i) => i <= layer).length - 1;
  const depth = depthOf(donorChain.network, donorLayer);
  if (depth >= donorWeighted.length - 1) fail("bad-option", `site ${donorSite.name} is the output layer of ${donor.name}; transplant moves hidden units`, { options: ["site"], value: donorSite.name });
  const recipientWeighted = weightedIndices(recipientChain.network);
  if (depth >= recipientWeighted.length - 1) fail("bad-option", `recipient ${recipient.name} has no hidden layer at depth ${depth + 1} to take units of ${donorSite.name}`, { options: ["site"], value: donorSite.name });
  const recipientName = options.recipientSite ?? (recipientChain.network.layers[recipientWeighted[depth]] as { name: string }).name;
  const recipientSite = resolveSite(recipient, recipientName);
  const recipientLayer = siteLayerIndex(recipientChain.network, recipientSite.name);
  const kind = donorChain.network.layers[donorWeighted[depth]].op;
  if (recipientLayer < 0 || depthOf(recipientChain.network, recipientLayer) !== depth) fail("bad-option", `recipient site ${recipientSite.name} must be the output of ${kind} layer ${depth + 1} of ${recipient.name}, the depth of donor site ${donorSite.name}`, { options: ["recipientSite"], value: recipientSite.name });
  const donorOps = opSignature(donorChain.network, donorLayer).join(",");
  const recipientOps = opSignature(recipientChain.network, recipientLayer).join(",");
  if (donorOps !== recipientOps) fail("bad-model", `donor layers up to ${donorSite.name} (${donorOps}) differ from the recipient's up to ${recipientSite.name} (${recipientOps}); the units need the same activations${donorOps.includes("conv(") ? " and windows" : ""}`, { name: recipient.name, site: recipientSite.name });
  // Before the population is searched: under inputs normalised otherwise it finds none, and would say only that.
  checkRebase(donorChain.network.layers[donorWeighted[0]] as Weighted, donor.preprocessing, recipient.preprocessing);
  return { donorChain, recipientChain, donorSite, donorLayer, donorWeighted, depth, recipientSite, recipientWeighted };
}

/**
 * Layers a transplant moves units through: each acts on a unit (feature or channel) alone, or is a weighted layer. Batch
 * norm too: the transplant trains with its statistics frozen (trainNetwork's frozenBatchNorm).
 */
const CHAIN_OPS = ["linear", "conv", "batchnorm", "relu", "tanh", "sigmoid", "leakyrelu", "flatten", "dropout", "logsoftmax", "maxpool", "avgpool", "globalavgpool"];

function transplantChain(model: LesionModel): Chain {
  let why = "";
  const found = networkOf(model.proto, model.inputShape, (reason) => (why = reason));
  if (!found) fail("unsupported-op", `${model.name} is not a chain of layers lesion can train (${why}); transplant handles chains of linear and conv layers (MLPs and plain CNNs)`, {});
  const other = found.network.layers.find((l) => !CHAIN_OPS.includes(l.op));
  // Its float64 passes run in onnxruntime, which has no double Erf (GELU); SiLU is left out with it.
  if (other && (other.op === "gelu" || other.op === "silu")) fail("unsupported-op", `${model.name} has ${other.op} layers; transplant handles networks with ReLU, LeakyReLU, Tanh or Sigmoid activations`, { op: other.op });
  if (other) fail("unsupported-op", `${model.name} has ${other.op} layers; transplant handles chains of linear and conv layers (MLPs and plain CNNs), not residual networks`, { op: other.op });
  return found;
}

/**
 * The weighted layer before the output layer: its units' new outgoing weights are the output layer's, so what the
 * budget trains reaches the class logits directly. (A CNN's first conv layer, the first hidden layer, moved nothing of
 * MNIST's class 3 in 30 epochs on 100 images, its fc1 96 pp.) The chain has two weighted layers or more: a site at the
 * output layer is refused before this is asked.
 */
function lastHidden(network: Network): string {
  const weighted = weightedIndices(network);
  return (network.layers[weighted[Math.max(0, weighted.length - 2)]] as { name: string }).name;
}
