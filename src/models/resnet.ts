/**
 * `import --arch resnet`: a residual network's state_dict built into the graph torch.onnx.export writes for it, so
 * that its sites get the names an export would give them (`conv1`, `layer1.0.conv1`, `layer1.0`, `fc`).
 *
 * Read from the keys, as the common PyTorch code names them: torchvision's ResNet (`conv1`, `bn1`, stages `layer1` …
 * of BasicBlocks `convN`/`bnN` or Bottlenecks with `conv3`, `downsample.0`/`.1` shortcuts, head `fc`) and the CIFAR
 * ResNets of kuangliu/pytorch-cifar (`shortcut.0`/`.1`, head `linear`) and akamaster/pytorch_resnet_cifar10
 * (ResNet-20 …: option A shortcuts, which hold no weights). What the keys cannot say follows those codes: the stem is
 * torchvision's (7×7 conv, stride 2, padding 3, then a 3×3 max pool, stride 2, padding 1) where conv1 is 7×7, and
 * the CIFAR one (3×3, stride 1, padding 1, no pool) where it is 3×3; the first block of every stage after the first
 * has stride 2 (a Bottleneck on its 3×3 conv2, as torchvision ≥ 0.3); a shortcut without weights where the channels
 * grow is option A (every second row and column, the new channels zero on both sides); BatchNorm's epsilon is
 * PyTorch's default 1e-5; the head averages over all positions. BatchNorm is folded into the conv before it (in
 * float64, then rounded), as the exporter does. Anything else (grouped or dilated convs, other stems, extra modules)
 * is refused by name: export such a model to ONNX instead.
 */
import { fail } from "../errors.js";
import { classifierModel, INPUT_NAME, OUTPUT_NAME, padChannelsNode, subsampleNode } from "../onnx/build.js";
import { makeNode, makeTensor, type ModelProto, type NodeProto, type TensorProto } from "../onnx/proto.js";
import { convSize } from "./arch.js";
import type { StateDict, StateTensor } from "./torch/types.js";

/** PyTorch's BatchNorm2d default; a state_dict does not store it. */
const BN_EPSILON = 1e-5;

/** What a state_dict cannot say about a ResNet. */
export interface ResnetOptions {
  /**
   * Whether a 3×3 max pool (stride 2, padding 1) follows the stem's ReLU. Default: where conv1 is 7×7 (torchvision's
   * stem), not where it is 3×3 (the CIFAR stem). A torchvision ResNet given a 3×3 conv1 keeps its pool: true.
   */
  stemPool?: boolean;
}

/**
 * The ONNX classifier of a ResNet state_dict (see the file comment for what is read and assumed), taking images of
 * `imageShape` [C, H, W], and its stem in words ("3x3 conv1, stride 1, no max pool"), which the keys cannot tell.
 * @throws LesionError `bad-arch` naming what does not fit: no stem conv, an unknown stem, a grouped conv, channels
 * that do not chain, a shortcut that cannot be told, tensors no part of a ResNet takes.
 */
export function resnetModel(state: StateDict, imageShape: [number, number, number], path: string, options: ResnetOptions = {}): { model: ModelProto; stem: string } {
  const byName = new Map(state.map((t) => [t.name, t]));
  const used = new Set<string>();
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const has = (name: string) => byName.has(`${name}.weight`);
  const tensor = (name: string): StateTensor => {
    const t = byName.get(name);
    if (!t) fail("bad-arch", `${path} has no ${name}, which a ResNet's layer needs here`, { tensor: name });
    if (!(t.data instanceof Float32Array) && !(t.data instanceof Float64Array)) fail("bad-arch", `${name} is not a floating-point tensor`, { tensor: name });
    used.add(name);
    return t;
  };
  const weightedShortcuts = state.some((t) => /\.(downsample|shortcut)\.0\.weight$/.test(t.name));
  let shape = [...imageShape];
  let current = INPUT_NAME;

  /** A conv (`conv`'s weights) and the BatchNorm after it (`bn`), folded into one Conv node named as torch.onnx names it. */
  const conv = (input: string, inShape: number[], convName: string, bnName: string, nodeScope: string, stride: number): { output: string; shape: number[] } => {
    const weight = tensor(`${convName}.weight`);
    if (weight.shape.length !== 4) fail("bad-arch", `${convName}.weight has shape ${weight.shape.join("x")}; a conv's weight is out x in x k x k`, { tensor: weight.name });
    const [out, inp, kh, kw] = weight.shape;
    if (kh !== kw) fail("bad-arch", `${convName} has a ${kh}x${kw} kernel; lesion builds square kernels only`, { layer: convName });
    if (inp !== inShape[0]) {
      const grouped = inShape[0] % inp === 0 && inShape[0] > inp;
      fail("bad-arch", `${convName} takes ${inp} channels but gets ${inShape[0]}${grouped ? " (a grouped conv, as ResNeXt's: export the model to ONNX instead)" : ""}`, { layer: convName });
    }
    const padding = (kh - 1) / 2;
    if (!Number.isInteger(padding)) fail("bad-arch", `${convName} has an even kernel (${kh}); a ResNet's convs are 1x1, 3x3 or 7x7`, { layer: convName });
    const bias = byName.has(`${convName}.bias`) ? tensor(`${convName}.bias`).data : null;
    const get = (key: string) => {
      const t = tensor(`${bnName}.${key}`);
      if (t.data.length !== out) fail("bad-arch", `${t.name} has ${t.data.length} values; ${convName} has ${out} channels`, { tensor: t.name });
      return t.data;
    };
    const [gamma, beta, mean, variance] = ["weight", "bias", "running_mean", "running_var"].map(get);
    if (byName.has(`${bnName}.num_batches_tracked`)) used.add(`${bnName}.num_batches_tracked`);
    const size = inp * kh * kw;
    const folded = new Float32Array(out * size);
    const shift = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      const scale = gamma[o] / Math.sqrt(variance[o] + BN_EPSILON);
      for (let i = 0; i < size; i++) folded[o * size + i] = weight.data[o * size + i] * scale;
      shift[o] = beta[o] + ((bias ? bias[o] : 0) - mean[o]) * scale;
    }
    initializers.push(makeTensor(`${convName}.weight`, [out, inp, kh, kw], folded), makeTensor(`${convName}.bias`, [out], shift));
    const output = `${nodeScope}/Conv_output_0`;
    nodes.push(makeNode("Conv", [input, `${convName}.weight`, `${convName}.bias`], [output], `${nodeScope}/Conv`, { kernel_shape: [kh, kw], pads: [padding, padding, padding, padding], strides: [stride, stride], dilations: [1, 1], group: 1 }));
    return { output, shape: [out, convSize(inShape[1], kh, stride, padding), convSize(inShape[2], kh, stride, padding)] };
  };
  const relu = (input: string, nodeScope: string): string => {
    const output = `${nodeScope}/Relu_output_0`;
    nodes.push(makeNode("Relu", [input], [output], `${nodeScope}/Relu`));
    return output;
  };
  // The stem.
  if (!has("conv1")) fail("bad-arch", `${path} has no stem conv1.weight; \`arch\` resnet reads torchvision's and the common CIFAR ResNets' keys`, { options: ["arch"] });
  // A pre-activation ResNet (He et al. 2016b; kuangliu's PreActResNet) normalises before each conv: no bn1 after its stem.
  if (!has("bn1") && has("layer1.0.bn1")) fail("bad-arch", `${path} has no bn1 after its stem conv1, as a pre-activation ResNet has (its BatchNorms come before their convs): \`arch\` resnet builds post-activation ResNets; export the model to ONNX (torch.onnx.export) instead`, { options: ["arch"] });
  const stemWeight = byName.get("conv1.weight")!;
  const stemKernel = stemWeight.shape[2];
  if (stemKernel !== 7 && stemKernel !== 3) fail("bad-arch", `${path}'s stem conv1 is ${stemKernel}x${stemKernel}; \`arch\` resnet knows torchvision's 7x7 stem and the CIFAR 3x3 one: export the model to ONNX instead`, { options: ["arch"] });
  // [H, W, C] given for [C, H, W] (a trial's 32x32x3): said so, not "conv1 takes 3 channels but gets 32".
  if (stemWeight.shape[1] !== imageShape[0] && stemWeight.shape[1] === imageShape[2]) {
    fail("bad-option", `the image shape ${imageShape.join("x")} looks like HxWxC; \`inputShape\` is CxHxW (${[imageShape[2], imageShape[0], imageShape[1]].join("x")})`, { options: ["inputShape"] });
  }
  const stemStride = stemKernel === 7 ? 2 : 1;
  const stemPool = options.stemPool ?? stemKernel === 7;
  ({ output: current, shape } = conv(current, shape, "conv1", "bn1", "/conv1", stemStride));
  current = relu(current, "/relu");
  if (stemPool) {
    const output = "/maxpool/MaxPool_output_0";
    nodes.push(makeNode("MaxPool", [current], [output], "/maxpool/MaxPool", { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], ceil_mode: 0 }));
    current = output;
    shape = [shape[0], convSize(shape[1], 3, 2, 1), convSize(shape[2], 3, 2, 1)];
  }

  // The stages.
  for (let stage = 1; has(`layer${stage}.0.conv1`); stage++) {
    for (let index = 0; has(`layer${stage}.${index}.conv1`); index++) {
      const block = `layer${stage}.${index}`;
      const scope = `/layer${stage}/${block}`;
      const stride = index === 0 && stage > 1 ? 2 : 1;
      const input = current;
      const inShape = shape;
      const bottleneck = has(`${block}.conv3`);
      let out = conv(input, inShape, `${block}.conv1`, `${block}.bn1`, `${scope}/conv1`, bottleneck ? 1 : stride);
      out = { output: relu(out.output, `${scope}/relu`), shape: out.shape };
      out = conv(out.output, out.shape, `${block}.conv2`, `${block}.bn2`, `${scope}/conv2`, bottleneck ? stride : 1);
      if (bottleneck) {
        out = { output: relu(out.output, `${scope}/relu_1`), shape: out.shape };
        out = conv(out.output, out.shape, `${block}.conv3`, `${block}.bn3`, `${scope}/conv3`, 1);
      }
      const identity = shortcut(block, scope, input, inShape, out.shape, stride);
      const sum = `${scope}/Add_output_0`;
      nodes.push(makeNode("Add", [out.output, identity], [sum], `${scope}/Add`));
      current = relu(sum, `${scope}/relu_${bottleneck ? 2 : 1}`);
      shape = out.shape;
    }
  }
  if (!has("layer1.0.conv1")) fail("bad-arch", `${path} has no stage layer1 (layer1.0.conv1.weight); \`arch\` resnet reads torchvision's and the common CIFAR ResNets' keys`, { options: ["arch"] });

  /** The block's identity branch: a 1×1 conv + BatchNorm where the checkpoint has one, else identity or option A. */
  function shortcut(block: string, scope: string, input: string, inShape: number[], outShape: number[], stride: number): string {
    for (const module of ["downsample", "shortcut"]) {
      if (!has(`${block}.${module}.0`)) continue;
      const branch = conv(input, inShape, `${block}.${module}.0`, `${block}.${module}.1`, `${scope}/${module}/${module}.0`, stride);
      if (branch.shape.join() !== outShape.join()) fail("bad-arch", `${block}.${module} gives ${branch.shape.join("x")} but the block's convs give ${outShape.join("x")}`, { layer: block });
      return branch.output;
    }
    if (inShape.join() === outShape.join()) return input;
    const [inChannels, outChannels] = [inShape[0], outShape[0]];
    const side = Math.floor(outChannels / 4);
    // akamaster's option A: x[:, :, ::2, ::2] with planes // 4 zero channels on each side; only in a network none of
    // whose blocks has shortcut weights (where others have them, this block's are missing from the file).
    if (!weightedShortcuts && stride === 2 && outChannels - inChannels === 2 * side && convSize(inShape[1], 1, 2, 0) === outShape[1]) {
      const sliced = subsampleNode(`${scope}/shortcut`, input, `${scope}/shortcut/Slice_output_0`, { op: "subsample", axes: [2, 3], stride: 2 });
      const padded = padChannelsNode(`${scope}/shortcut`, sliced.node.output![0], `${scope}/shortcut/Pad_output_0`, { op: "padchannels", before: side, after: side });
      nodes.push(sliced.node, padded.node);
      initializers.push(...sliced.initializers, ...padded.initializers);
      return padded.node.output![0];
    }
    fail("bad-arch", `${block} goes from ${inShape.join("x")} to ${outShape.join("x")} but ${path} has no ${block}.downsample or ${block}.shortcut weights for its identity branch`, { layer: block });
  }

  // The head: average over positions, flatten, the linear layer.
  const head = ["fc", "linear"].find((name) => has(name));
  if (!head) {
    // A fine-tuning head in a Sequential (fc = nn.Sequential(nn.Dropout(…), nn.Linear(…)): fc.1.weight).
    const nested = state.find((t) => /^(fc|linear)\.\d+\.weight$/.test(t.name));
    fail("bad-arch", `${path} has no head (fc.weight or linear.weight) after its stages${nested ? `; its head is a Sequential (${nested.name}): rename those keys to ${nested.name.replace(/\.\d+\.weight$/, ".weight")} and .bias if it is one Linear, else export the model to ONNX (torch.onnx.export)` : ""}`, { options: ["arch"] });
  }
  const weight = tensor(`${head}.weight`);
  if (weight.shape.length !== 2 || weight.shape[1] !== shape[0]) fail("bad-arch", `${head} takes ${weight.shape[1]} inputs but the last stage gives ${shape[0]} channels`, { layer: head });
  nodes.push(
    makeNode("GlobalAveragePool", [current], ["/avgpool/GlobalAveragePool_output_0"], "/avgpool/GlobalAveragePool"),
    makeNode("Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], "/Flatten", { axis: 1 }),
  );
  initializers.push(makeTensor(`${head}.weight`, weight.shape, Float32Array.from(weight.data as Float32Array)));
  const headInputs = ["/Flatten_output_0", `${head}.weight`];
  if (byName.has(`${head}.bias`)) {
    initializers.push(makeTensor(`${head}.bias`, [weight.shape[0]], Float32Array.from(tensor(`${head}.bias`).data as Float32Array)));
    headInputs.push(`${head}.bias`);
  }
  nodes.push(makeNode("Gemm", headInputs, [OUTPUT_NAME], `/${head}/Gemm`, { alpha: 1.0, beta: 1.0, transB: 1 }));

  const unused = state.filter((t) => !used.has(t.name));
  if (unused.length > 0) {
    const names = unused.map((t) => t.name);
    fail("bad-arch", `${path} has tensors no part of a ResNet takes: ${names.slice(0, 4).join(", ")}${names.length > 4 ? `, … (${names.length})` : ""}; export the model to ONNX (torch.onnx.export) instead`, { tensor: names[0] });
  }
  const stem = `${stemKernel}x${stemKernel} conv1, stride ${stemStride}, ${stemPool ? "then a 3x3 max pool, stride 2" : "no max pool"}`;
  return { model: classifierModel(nodes, initializers, imageShape), stem };
}
