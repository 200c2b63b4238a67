/**
 * The graphs the explorer page runs, built from the same surgery the CLI's general ablation path uses
 * (src/engine/sweep/maskedSweep.ts): a prefix graph that computes every site's cut tensors once, one suffix graph per site
 * (the site onward, masked at that site and at every site after it, masks as per-row graph inputs), and the whole
 * graph masked at every site in float64, which settles near ties as `ablate` does.
 */
import { maskTarget, siteSuffix, tensorShapes } from "../engine/sweep/maskedSweep.js";
import type { LesionModel, Site } from "../engine/model.js";
import { downstreamNodes } from "../onnx/graph.js";
import { encodeModel } from "../onnx/proto.js";
import { cutTensors, toFloat64, withMasks, withOutputs } from "../onnx/surgery.js";

/** One suffix graph: what it is fed and which sites it masks (its own first). */
export interface ExplorerSuffix {
  site: string;
  /** The graph's inputs in feed order: the feed name, the cached tensor it reads, one sample's shape. */
  feeds: Array<{ name: string; tensor: string; shape: number[] }>;
  /** Sites masked in this graph: the suffix's own site, then every site downstream of it. */
  masked: string[];
  graph: Uint8Array;
}

export interface ExplorerGraphs {
  /** The whole float32 graph with every cached tensor as an extra output. */
  prefix: { graph: Uint8Array; outputs: string[] };
  suffixes: ExplorerSuffix[];
  /** The whole graph in float64, masked at every site (ties are settled here; the page falls back when it fails to load). */
  float64: Uint8Array;
  /** Cached tensors with one sample's shape (the site tensors among them). */
  tensors: Array<{ tensor: string; shape: number[] }>;
}

/** Builds every graph for `sites` (in graph order). Throws `unsupported-op` as the CLI's masked path does. */
export async function explorerGraphs(model: LesionModel, sites: Site[]): Promise<ExplorerGraphs> {
  const graph = model.proto.graph!;
  const cuts = sites.map((site) => ({ site, ...cutTensors(model.proto, site.tensor) }));
  const fed = [...new Set(cuts.flatMap((c) => c.inputs))];
  const sources = [...new Set(cuts.flatMap((c) => c.shapeSources))];
  const shapes = await tensorShapes(model, fed, sources);
  const suffixes: ExplorerSuffix[] = cuts.map(({ site, inputs }) => {
    const suffix = siteSuffix(model, site, inputs, shapes);
    // Later sites produced inside this suffix are masked in it too, so a lesion across layers runs in one graph.
    const produced = new Set(downstreamNodes(graph, [site.tensor]).flatMap((n) => n.output ?? []));
    const later = sites.filter((s) => s !== site && produced.has(s.tensor) && !inputs.includes(s.tensor));
    const masked = later.length > 0 ? withMasks(suffix.model, later.map(maskTarget)) : suffix.model;
    return {
      site: site.name,
      feeds: inputs.map((tensor) => ({ name: tensor === site.tensor ? `${tensor}::in` : tensor, tensor, shape: shapes.get(tensor)! })),
      masked: [site.name, ...later.map((s) => s.name)],
      graph: encodeModel(masked),
    };
  });
  const outputs = [...new Set([...fed.filter((t) => t !== model.inputName), ...sites.map((s) => s.tensor)])];
  return {
    prefix: { graph: encodeModel(withOutputs(model.proto, outputs)), outputs },
    suffixes,
    float64: encodeModel(toFloat64(withMasks(model.proto, sites.map(maskTarget)))),
    tensors: outputs.map((tensor) => ({ tensor, shape: shapes.get(tensor) ?? sites.find((s) => s.tensor === tensor)!.shape })),
  };
}
