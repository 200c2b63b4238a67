/**
 * float64 window kernels, from the ONNX operator specification: Conv (groups, strides, pads, dilations, auto_pad)
 * and MaxPool/AveragePool/GlobalAveragePool, on 2-D inputs (1-D read as H = 1). Anything else throws
 * `unsupported-op`.
 */
import { unsupported } from "./kernels.js";
import { sizeOf, type Tensor64 } from "./tensor64.js";

/** Pads of a pooling/conv node over `spatial` dims: explicit `pads`, or SAME_UPPER/SAME_LOWER/VALID. */
function resolvePads(autoPad: string, pads: number[], input: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  const k = input.length;
  if (autoPad === "NOTSET" || autoPad === "") return pads.length === 2 * k ? pads : new Array(2 * k).fill(0);
  if (autoPad === "VALID") return new Array(2 * k).fill(0);
  const out = new Array<number>(2 * k).fill(0);
  for (let i = 0; i < k; i++) {
    const extent = (kernel[i] - 1) * dilations[i] + 1;
    const target = Math.ceil(input[i] / strides[i]);
    const total = Math.max(0, (target - 1) * strides[i] + extent - input[i]);
    const small = Math.floor(total / 2);
    out[i] = autoPad === "SAME_LOWER" ? total - small : small;
    out[i + k] = total - out[i];
  }
  return out;
}

export interface WindowAttributes {
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
  autoPad: string;
  ceilMode?: boolean;
}

/** Output spatial size of a window op (conv or pool) on a 2-D input (1-D inputs are read as H = 1). */
function windowGeometry(op: string, x: Tensor64, attributes: WindowAttributes) {
  const spatial = x.dims.slice(2);
  if (spatial.length < 1 || spatial.length > 2) unsupported(op, `${spatial.length} spatial dimensions (1 or 2 are written)`);
  const two = (v: number[], fill: number) => (spatial.length === 1 ? [fill, v[0]] : v);
  const input = two(spatial, 1);
  const kernel = two(attributes.kernel, 1);
  const strides = two(attributes.strides.length ? attributes.strides : new Array(spatial.length).fill(1), 1);
  const dilations = two(attributes.dilations.length ? attributes.dilations : new Array(spatial.length).fill(1), 1);
  let pads = resolvePads(attributes.autoPad, attributes.pads, spatial, attributes.kernel, attributes.strides.length ? attributes.strides : new Array(spatial.length).fill(1), attributes.dilations.length ? attributes.dilations : new Array(spatial.length).fill(1));
  if (spatial.length === 1) pads = [0, pads[0], 0, pads[1]];
  const round = attributes.ceilMode ? Math.ceil : Math.floor;
  const output = [0, 1].map((i) => round((input[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)) / strides[i]) + 1);
  if (attributes.ceilMode) {
    // ONNX/PyTorch: the last window must start inside the input or its left padding.
    for (let i = 0; i < 2; i++) if ((output[i] - 1) * strides[i] >= input[i] + pads[i]) output[i]--;
  }
  return { input, kernel, strides, dilations, pads, output, outDims: (c: number) => [x.dims[0], c, ...(spatial.length === 1 ? [output[1]] : output)] };
}

/** ONNX Conv: Y[n, m] = Σ_c Σ_k W[m, c, k] · X[n, g·C/G + c, s·o + d·k − pad] + B[m]. */
export function conv(x: Tensor64, w: Tensor64, b: Tensor64 | undefined, group: number, attributes: WindowAttributes): Tensor64 {
  const g = windowGeometry("Conv", x, { ...attributes, kernel: attributes.kernel.length ? attributes.kernel : w.dims.slice(2) });
  const [n, channels] = x.dims;
  const m = w.dims[0];
  const perGroupIn = channels / group;
  const perGroupOut = m / group;
  if (w.dims[1] !== perGroupIn || !Number.isInteger(perGroupOut)) unsupported("Conv", `weight [${w.dims}] for ${channels} input channels in ${group} groups`);
  const [H, W] = g.input;
  const [KH, KW] = g.kernel;
  const [SH, SW] = g.strides;
  const [DH, DW] = g.dilations;
  const [PT, PL] = g.pads;
  const [OH, OW] = g.output;
  const out = new Float64Array(n * m * OH * OW);
  const X = x.data;
  const Wt = w.data;
  for (let s = 0; s < n; s++) {
    for (let oc = 0; oc < m; oc++) {
      const grp = Math.floor(oc / perGroupOut);
      const target = (s * m + oc) * OH * OW;
      const bias = b ? b.data[oc] : 0;
      for (let i = 0; i < OH * OW; i++) out[target + i] = bias;
      for (let ic = 0; ic < perGroupIn; ic++) {
        const plane = (s * channels + grp * perGroupIn + ic) * H * W;
        const kernel = (oc * perGroupIn + ic) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const weight = Wt[kernel + kh * KW + kw];
            if (weight === 0) continue;
            // The output columns whose input column ow·SW + kw·DW − PL lies inside the row: no test in the loop.
            const shift = kw * DW - PL;
            const first = Math.max(0, Math.ceil(-shift / SW));
            const last = Math.min(OW - 1, Math.floor((W - 1 - shift) / SW));
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * SH + kh * DH - PT;
              if (ih < 0 || ih >= H) continue;
              const row = plane + ih * W + shift;
              const at = target + oh * OW;
              for (let ow = first; ow <= last; ow++) out[at + ow] += weight * X[row + ow * SW];
            }
          }
        }
      }
    }
  }
  return { dims: g.outDims(m), data: out };
}

/** MaxPool / AveragePool (count_include_pad per attribute): the window's max or mean over the input (and padding). */
export function pool(x: Tensor64, kind: "max" | "average", attributes: WindowAttributes, countIncludePad: boolean): Tensor64 {
  const g = windowGeometry(kind === "max" ? "MaxPool" : "AveragePool", x, attributes);
  const [n, channels] = x.dims;
  const [H, W] = g.input;
  const [KH, KW] = g.kernel;
  const [SH, SW] = g.strides;
  const [DH, DW] = g.dilations;
  const [PT, PL, PB, PR] = g.pads;
  const [OH, OW] = g.output;
  const out = new Float64Array(n * channels * OH * OW);
  for (let p = 0; p < n * channels; p++) {
    const plane = p * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let acc = kind === "max" ? -Infinity : 0;
        let count = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH + kh * DH - PT;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW + kw * DW - PL;
            const inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            if (inside) {
              const v = x.data[plane + ih * W + iw];
              if (kind === "max") acc = v > acc || Number.isNaN(v) ? v : acc;
              else acc += v;
              count++;
            } else if (kind === "average" && countIncludePad && ih < H + PB && iw < W + PR) count++;
          }
        }
        out[(p * OH + oh) * OW + ow] = kind === "max" ? acc : acc / count;
      }
    }
  }
  return { dims: g.outDims(channels), data: out };
}

export function globalAveragePool(x: Tensor64): Tensor64 {
  const [n, c] = x.dims;
  const plane = sizeOf(x.dims.slice(2));
  const out = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += x.data[p * plane + i];
    out[p] = sum / plane;
  }
  return { dims: [n, c, ...x.dims.slice(2).map(() => 1)], data: out };
}

export function globalMaxPool(x: Tensor64): Tensor64 {
  const [n, c] = x.dims;
  const plane = sizeOf(x.dims.slice(2));
  const out = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let max = -Infinity;
    for (let i = 0; i < plane; i++) {
      const v = x.data[p * plane + i];
      if (v > max || Number.isNaN(v)) max = v;
    }
    out[p] = max;
  }
  return { dims: [n, c, ...x.dims.slice(2).map(() => 1)], data: out };
}
