/**
 * Donor and recipient checked against each other and the sites of a transplant resolved: the donor site (default the
 * first hidden layer), its depth among the linear layers, and the recipient site at that depth. Throws the
 * LesionErrors listed on `transplant` for mismatched inputs, classes, sites and activations.
 */
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { networkOf, siteLayerIndex, type Network } from "../onnx/network.js";
import { linearIndices, opSignature } from "./transplantNetwork.js";

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
  donorLinears: number[];
  /** 0-based index of the site's linear layer among the linear layers. */
  depth: number;
  recipientSite: Site;
  recipientLinears: number[];
}

export function transplantSites(donor: LesionModel, recipient: LesionModel, datasets: Dataset[], options: { site?: string; recipientSite?: string }): TransplantSites {
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
  const donorChain = denseChain(donor);
  const recipientChain = denseChain(recipient);
  const donorSite = resolveSite(donor, options.site ?? firstHidden(donorChain.network, donor.name));
  if (donorSite.kind !== "dense") fail("unsupported-op", `site ${donorSite.name} of ${donor.name} is a conv site; transplant handles dense sites (MLPs) only`, { site: donorSite.name, op: "Conv" });
  const donorLayer = siteLayerIndex(donorChain.network, donorSite.name);
  if (donorLayer < 0) fail("unknown-site", `site ${donorSite.name} is not the output of a linear layer of ${donor.name}`, { model: donor.name, site: donorSite.name, closest: [] });
  const donorLinears = linearIndices(donorChain.network);
  const linearOf = (network: Network, layer: number) => linearIndices(network).filter((i) => i <= layer).length - 1;
  const depth = linearOf(donorChain.network, donorLayer);
  if (depth >= donorLinears.length - 1) fail("bad-option", `site ${donorSite.name} is the output layer of ${donor.name}; transplant moves hidden units`, { options: ["site"], value: donorSite.name });
  const recipientLinears = linearIndices(recipientChain.network);
  if (depth >= recipientLinears.length - 1) fail("bad-option", `recipient ${recipient.name} has no hidden layer at depth ${depth + 1} to take units of ${donorSite.name}`, { options: ["site"], value: donorSite.name });
  const recipientName = options.recipientSite ?? (recipientChain.network.layers[recipientLinears[depth]] as { name: string }).name;
  const recipientSite = resolveSite(recipient, recipientName);
  if (recipientSite.kind !== "dense") fail("unsupported-op", `site ${recipientSite.name} of ${recipient.name} is a conv site; transplant handles dense sites (MLPs) only`, { site: recipientSite.name, op: "Conv" });
  const recipientLayer = siteLayerIndex(recipientChain.network, recipientSite.name);
  if (recipientLayer < 0 || linearOf(recipientChain.network, recipientLayer) !== depth) fail("bad-option", `recipient site ${recipientSite.name} must be the output of linear layer ${depth + 1} of ${recipient.name}, the depth of donor site ${donorSite.name}`, { options: ["recipientSite"], value: recipientSite.name });
  const donorOps = opSignature(donorChain.network, donorLayer).join(",");
  const recipientOps = opSignature(recipientChain.network, recipientLayer).join(",");
  if (donorOps !== recipientOps) fail("bad-model", `donor layers up to ${donorSite.name} (${donorOps}) differ from the recipient's up to ${recipientSite.name} (${recipientOps}); the units need the same activations`, { name: recipient.name, site: recipientSite.name });
  return { donorChain, recipientChain, donorSite, donorLayer, donorLinears, depth, recipientSite, recipientLinears };
}

function denseChain(model: LesionModel): Chain {
  let why = "";
  const found = networkOf(model.proto, model.inputShape, (reason) => (why = reason));
  if (!found) fail("unsupported-op", `${model.name} is not a chain of layers lesion can train (${why}); transplant handles MLPs (dense layers with activations)`, {});
  const other = found.network.layers.find((l) => !["linear", "relu", "tanh", "sigmoid", "leakyrelu", "flatten", "dropout", "logsoftmax"].includes(l.op));
  // Its float64 passes run in onnxruntime, which has no double Erf (GELU); SiLU is left out with it.
  if (other && (other.op === "gelu" || other.op === "silu")) fail("unsupported-op", `${model.name} has ${other.op} layers; transplant handles MLPs with ReLU, LeakyReLU, Tanh or Sigmoid activations`, { op: other.op });
  if (other) fail("unsupported-op", `${model.name} has ${other.op} layers; transplant handles MLPs (dense sites) only, conv networks are out of scope`, { op: other.op });
  return found;
}

function firstHidden(network: Network, name: string): string {
  const first = network.layers.find((l) => l.op === "linear") as { name: string } | undefined;
  if (!first) fail("bad-model", `${name} has no linear layer`, { name });
  return first.name;
}

