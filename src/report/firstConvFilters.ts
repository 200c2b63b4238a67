/** The first conv layer's filters as RGB tiles for the study report (see `FilterTiles`). */
import { tensorDims, tensorValues, type ModelProto } from "../onnx/proto.js";
import type { SiteLocation } from "../onnx/sites.js";

/**
 * Filters of the first conv layer as colour tiles: filter f's kernel [C, k, k] is drawn as a k×k image whose pixel
 * (y, x) has, for channel c (R, G, B; a one-channel kernel is drawn grey), the byte
 * `round(127.5 · (1 + w[f, c, y, x] / m))` with m the largest |w| of that filter's channel c (128 where m is 0):
 * each channel is scaled symmetrically around 0, so 0 is mid-grey, the channel's largest positive weight 255 and its
 * most negative 0.
 */
export interface FilterTiles {
  /** The conv site (its ReLU or its output) whose layer reads the image. */
  site: string;
  channels: number;
  height: number;
  width: number;
  /** Per filter, [height·width·3] RGB bytes, row by row. */
  pixels: number[][];
}

/**
 * The filters of the graph's first Conv (in node order, which is topological: the one that reads the image, after any
 * normalisation), when a studied site is its output (see `FilterTiles`).
 */
export function firstConvFilters(proto: ModelProto | null, locations: SiteLocation[], sites: Array<{ name: string; kind: "dense" | "conv" }>): FilterTiles | null {
  if (!proto) return null;
  const graph = proto.graph!;
  const node = (graph.node ?? []).find((n) => n.opType === "Conv");
  const location = node?.name ? locations.find((l) => l.layer === node.name && sites.some((s) => s.name === l.name && s.kind === "conv")) : undefined;
  if (node && location) {
    const tensor = (graph.initializer ?? []).find((t) => t.name === node.input?.[1]);
    if (!tensor) return null;
    const dims = tensorDims(tensor);
    if (dims.length !== 4 || (dims[1] !== 1 && dims[1] !== 3)) return null;
    const [filters, channels, height, width] = dims;
    const values = tensorValues(tensor) as ArrayLike<number>;
    const area = height * width;
    const pixels = Array.from({ length: filters }, (_, f) => {
      const out = new Array<number>(area * 3);
      for (let c = 0; c < channels; c++) {
        const base = (f * channels + c) * area;
        let m = 0;
        for (let p = 0; p < area; p++) m = Math.max(m, Math.abs(values[base + p]));
        for (let p = 0; p < area; p++) {
          const byte = m === 0 ? 128 : Math.round(127.5 * (1 + values[base + p] / m));
          if (channels === 1) out.fill(byte, 3 * p, 3 * p + 3);
          else out[3 * p + c] = byte;
        }
      }
      return out;
    });
    return { site: location.name, channels, height, width, pixels };
  }
  return null;
}
