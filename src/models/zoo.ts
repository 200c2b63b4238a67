/**
 * Named architectures for `lesion train`: `mlp:784-100-100-100-10` (every layer width, input first, classes last;
 * ReLU between, layers fc1, fc2, …) and `cnn:small` (two 3×3 conv + ReLU + 2×2 max-pool blocks of 16 and 32 channels,
 * then fc1 of 128 and fc2), sized to the data's images and classes.
 */
import { fail } from "../errors.js";
import { layerShapes, type Network, type NetworkLayer } from "../onnx/network.js";

export const ZOO_HELP = "expected mlp:784-100-100-100-10 (layer widths, input first) or cnn:small";

export function zooNetwork(arch: string, imageShape: [number, number, number], classes: number): Network {
  const [family, rest] = arch.split(":");
  const [c, h, w] = imageShape;
  if (family === "mlp") {
    const widths = (rest ?? "").split("-").map(Number);
    if (widths.length < 2 || widths.some((x) => !Number.isInteger(x) || x < 1)) fail("bad-arch", `cannot read '${arch}'; ${ZOO_HELP}`, { arch });
    if (widths[0] !== c * h * w) fail("bad-arch", `${arch} takes ${widths[0]} inputs but the images are ${c}x${h}x${w} = ${c * h * w}`, { arch });
    if (widths[widths.length - 1] !== classes) fail("bad-arch", `${arch} has ${widths[widths.length - 1]} outputs but the data has ${classes} classes`, { arch });
    const layers: NetworkLayer[] = [{ op: "flatten" }];
    for (let i = 1; i < widths.length; i++) {
      layers.push({ op: "linear", name: `fc${i}`, in: widths[i - 1], out: widths[i], bias: true });
      if (i < widths.length - 1) layers.push({ op: "relu" });
    }
    return { inputShape: imageShape, layers };
  }
  if (family === "cnn" && (rest ?? "small") === "small") {
    const flat = 32 * Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2);
    const network: Network = {
      inputShape: imageShape,
      layers: [
        { op: "conv", name: "conv1", in: c, out: 16, kernel: 3, stride: 1, padding: 1, bias: true },
        { op: "relu" },
        { op: "maxpool", kernel: 2, stride: 2 },
        { op: "conv", name: "conv2", in: 16, out: 32, kernel: 3, stride: 1, padding: 1, bias: true },
        { op: "relu" },
        { op: "maxpool", kernel: 2, stride: 2 },
        { op: "flatten" },
        { op: "linear", name: "fc1", in: flat, out: 128, bias: true },
        { op: "relu" },
        { op: "linear", name: "fc2", in: 128, out: classes, bias: true },
      ],
    };
    layerShapes(network);
    return network;
  }
  fail("bad-arch", `unknown architecture '${arch}'; ${ZOO_HELP}`, { arch });
}
