/**
 * Networks for `lesion train --arch`, from the one architecture grammar of src/models/arch.ts (the one `import` reads):
 * `mlp:784-100-100-100-10`, `cnn:small`, `vgg:small` / `vgg:16-M-32-M-fc64` (BatchNorm after every conv), or a layer
 * list whose conv and linear layers give `out` (the last linear defaults to the data's classes). Layers are named
 * conv1, conv2, …, bn1, …, fc1, fc2, … in order, except where the spec names them (vgg: PyTorch's `features.i` and
 * `classifier.i`, so a lesion-trained VGG and a PyTorch state_dict of the same spec share parameter names).
 */
import { fail } from "../errors.js";
import { layerShapes, type Network, type NetworkLayer } from "../onnx/network.js";
import { ARCH_HELP, parseArch } from "./arch.js";

export const ZOO_HELP = ARCH_HELP.replace("'mlp', ", "");

/**
 * The network an architecture spec describes, sized to the data's images ([C, H, W]) and classes.
 * @throws LesionError `bad-arch`: an unreadable spec, bare `mlp` (no widths), a conv or hidden linear without `out`,
 * layers that do not fit the images (an `mlp:` input width that is not C·H·W), or an output width that is not the
 * number of classes.
 */
export function zooNetwork(arch: string, imageShape: [number, number, number], classes: number): Network {
  const tokens = parseArch(arch);
  if (tokens === null) fail("bad-arch", `'mlp' needs its layer widths to be trained, e.g. mlp:784-100-10; ${ZOO_HELP}`, { arch });
  const [c, h, w] = imageShape;
  const counters: Record<string, number> = { conv: 0, bn: 0, fc: 0 };
  const auto = (kind: string) => `${kind}${++counters[kind]}`;
  const lastLinear = tokens.map((t) => t.op).lastIndexOf("linear");
  let shape: number[] = [...imageShape];
  const layers: NetworkLayer[] = [];
  tokens.forEach((token, i) => {
    let layer: NetworkLayer;
    switch (token.op) {
      case "conv": {
        if (token.out === undefined) fail("bad-arch", `conv layer ${i + 1} of '${arch}' needs its channel count to be trained, e.g. conv(out=16,padding=1)`, { arch });
        if (shape.length !== 3) fail("bad-arch", `conv layer ${i + 1} of '${arch}' follows a flat tensor`, { arch });
        layer = { op: "conv", name: token.name ?? auto("conv"), in: shape[0], out: token.out, kernel: token.kernel ?? 3, stride: token.stride, padding: token.padding, bias: true };
        break;
      }
      case "linear": {
        const out = token.out ?? (i === lastLinear ? classes : undefined);
        if (out === undefined) fail("bad-arch", `linear layer ${i + 1} of '${arch}' needs its width to be trained, e.g. linear(out=128)`, { arch });
        if (token.in !== undefined && token.in !== c * h * w) fail("bad-arch", `${arch} takes ${token.in} inputs but the images are ${c}x${h}x${w} = ${c * h * w}`, { arch });
        if (i === lastLinear && out !== classes) fail("bad-arch", `${arch} has ${out} outputs but the data has ${classes} classes`, { arch });
        if (shape.length !== 1) fail("bad-arch", `linear layer ${i + 1} of '${arch}' follows a ${shape.join("x")} tensor; add flatten before it`, { arch });
        layer = { op: "linear", name: token.name ?? auto("fc"), in: shape[0], out, bias: true };
        break;
      }
      case "bn":
        layer = { op: "batchnorm", name: token.name ?? auto("bn"), channels: shape[0], eps: 1e-5, momentum: 0.1 };
        break;
      default:
        layer = token;
    }
    layers.push(layer);
    shape = layerShapes({ inputShape: imageShape, layers }).at(-1)!;
  });
  if (lastLinear < 0 || shape.length !== 1 || shape[0] !== classes) fail("bad-arch", `${arch} must end in a linear layer to the ${classes} classes; ${ZOO_HELP}`, { arch });
  return { inputShape: imageShape, layers };
}
