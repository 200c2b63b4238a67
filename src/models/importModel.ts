/**
 * `lesion import`: a PyTorch state_dict (.pt legacy or zip, .safetensors) plus an architecture spec becomes an ONNX
 * model with lesion's metadata; an ONNX file gets the metadata stamped in, and tensors it keeps in external data
 * (read from beside it) inline, so the model written is one self-contained file. Loading a checkpoint never runs code.
 */
import { dirname, extname } from "node:path";
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { buildArch, checkChain, parseArch, type Activation } from "./arch.js";
import { resnetModel } from "./resnet.js";
import { makeBatchDynamic } from "../onnx/batch.js";
import { buildClassifier } from "../onnx/build.js";
import { checkpointFormat } from "../onnx/checkpointFormat.js";
import { readStateDict } from "./torch/readCheckpoint.js";
import { inlineExternalData } from "../onnx/externalData.js";
import { checkChannels, checkMeanStd, readMetadata, writeMetadata, type Preprocessing } from "../onnx/metadata.js";
import { decodeModel, encodeModel, valueInfoShape, type ModelProto } from "../onnx/proto.js";

/** Options of `importModel` (`lesion import`'s flags). */
export interface ImportOptions {
  /**
   * Architecture spec for a checkpoint: `mlp`, `resnet` (torchvision's ResNets and the common CIFAR ones, read from the
   * keys: src/models/resnet.ts) or a layer list (see README). Required for checkpoints.
   */
  arch?: string;
  /** Activation between the Linear layers of `--arch mlp`. Default "relu". */
  activation?: Activation;
  /** Per-channel mean subtracted from [0,1] pixels. Default [0] (for ONNX input: kept from the file's metadata). */
  mean?: number[];
  /** Per-channel std dividing after the mean. Default [1]. */
  std?: number[];
  /**
   * Image folders scored with the model get their shorter side resized to this many pixels (torchvision's
   * `Resize(N)`, PIL's antialiased bilinear filter). Default: none (for ONNX input: kept from the file's metadata).
   */
  resize?: number;
  /** Image folders scored with the model are then center-cropped to crop×crop (`CenterCrop(M)`). Default: none (ONNX: kept). */
  crop?: number;
  /**
   * One image's [C, H, W]. Default: from the first layer, an MLP's input width (784 → 1x28x28, 3072 → 3x32x32) or a
   * CNN's input channels (1 → 1x28x28, 3 → 3x32x32).
   */
  inputShape?: [number, number, number];
  /** Class names in class order. Default: none stored (the data's names are used). */
  classNames?: string[];
}

/** What `importModel` made: the model's bytes and what went into its metadata. */
export interface ImportResult {
  /** The ONNX model, ready to write. */
  bytes: Uint8Array;
  /** Which reader loaded the source. */
  format: "onnx" | "checkpoint";
  /** The preprocessing written into the model's metadata (`lesion.preprocessing`). */
  preprocessing: Preprocessing;
  /**
   * What was read from a checkpoint, in one line: which dict held the weights and how many tensors it had, and a
   * wrapper prefix removed from the keys ("took checkpoint['state_dict']: 4 tensors, without the prefix 'module.'
   * every key had"). null for ONNX input.
   */
  note: string | null;
}

/**
 * Makes a lesion model from a file: an ONNX model made self-contained (external data inlined), or a PyTorch state_dict
 * (`.pt` zip or legacy pickle, `.safetensors`; read without running code) built into the architecture `arch` ("mlp" or
 * a layer list, see README "Architectures"). Preprocessing (`mean`, `std` per channel on [0, 1] pixels, `inputShape`
 * CxHxW) and class names go into the model's metadata.
 * @throws LesionError `missing-file`; `bad-option` (an empty or repeated class name, mean and std of different lengths or of another count than the
 * model's channels, a zero std, a checkpoint without
 * `arch`, an image shape that cannot be told, a crop that contradicts it, a mean above 1); `bad-checkpoint` (a file that is no readable PyTorch checkpoint);
 * `unsafe-pickle` (a pickle that asks to run code); `bad-arch` (an architecture that does not fit the weights);
 * `bad-model` (an ONNX file lesion cannot use); `unsupported-op` (a tensor type lesion does not read).
 */
export async function importModel(path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const bytes = readFileChecked(path, "model or checkpoint");
  // A checkpoint is read as one whatever its name (`weights.onnx` that torch.save wrote).
  const isOnnx = extname(path).toLowerCase() === ".onnx" && checkpointFormat(bytes) === null;
  checkMeanStd(options.mean, options.std);
  // Names become CSV columns (accuracy_<name>) and match image folders: an empty or repeated one would make two
  // columns one (a trial's "a,,c" gave a column "accuracy_").
  const names = options.classNames ?? [];
  const empty = names.findIndex((name) => name.trim() === "");
  if (empty >= 0) fail("bad-option", `\`classNames\`: name ${empty + 1} of ${names.length} is empty`, { options: ["classNames"], value: names.join(",") });
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) fail("bad-option", `\`classNames\`: '${repeated}' is given twice`, { options: ["classNames"], value: names.join(",") });
  for (const [name, size] of [["resize", options.resize], ["crop", options.crop]] as const) {
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) fail("bad-option", `\`${name}\` must be a positive whole number of pixels, got ${size}`, { options: [name], value: size });
  }
  if (options.resize !== undefined && options.crop !== undefined && options.crop > options.resize) {
    fail("bad-option", `\`crop\` ${options.crop} is larger than \`resize\` ${options.resize}: the crop is cut from the resized image`, { options: ["crop", "resize"] });
  }
  let model: ModelProto;
  let preprocessing: Preprocessing;
  let note: string | null = null;
  if (isOnnx) {
    model = decodeModel(bytes, path);
    inlineExternalData(model.graph!, dirname(path), path);
    makeBatchDynamic(model);
    const existing = readMetadata(model, path).preprocessing;
    const layout = existing?.layout ?? guessLayout(model);
    preprocessing = {
      layout,
      mean: options.mean ?? existing?.mean ?? [0],
      std: options.std ?? existing?.std ?? [1],
      // Read from the graph's input where it is fixed, as `lesion info` shows it for the file before import.
      imageShape: options.inputShape ?? existing?.imageShape ?? guessImageShape(model, layout, options.crop),
      ...sizing(options.resize ?? existing?.resize, options.crop ?? existing?.crop),
    };
  } else {
    if (!options.arch) fail("bad-option", `${path} is a checkpoint (weights without architecture): give an architecture (\`arch\`: mlp, resnet or a layer list)`, { options: ["arch"] });
    const source = readStateDict(bytes, path);
    const state = source.tensors;
    note = source.note;
    const stemPool = resnetStemPool(options.arch);
    const resnet = stemPool !== null;
    const spec = resnet ? [] : parseArch(options.arch);
    if (!resnet) checkChain(state, path);
    const firstWeight = state.find((t) => t.name.endsWith(".weight"));
    const rank = firstWeight?.shape.length ?? 0;
    // `mlp` reads linear layers: a conv checkpoint would otherwise be asked for an image shape from its channel count.
    if (spec === null && firstWeight && rank !== 2) {
      fail("bad-arch", `\`arch\` mlp builds linear layers, but ${path}'s first weight ${firstWeight.name} has shape ${firstWeight.shape.join("x")} (not a linear layer's); give a layer list, e.g. conv(padding=1),relu,maxpool(2),flatten,linear`, { arch: options.arch, options: ["arch"] });
    }
    // A first conv's input channels say as much as a first linear's width: 1 → MNIST's 1x28x28, 3 → CIFAR's 3x32x32.
    const width = spec === null || rank === 2 ? (firstWeight?.shape[1] ?? 0) : rank === 4 ? ({ 1: 784, 3: 3072 }[firstWeight!.shape[1]] ?? 0) : 0;
    // A crop says the image size (a trial's --crop 224 on a ResNet had kept the default 3x32x32, unusable).
    const cropped = options.crop !== undefined && rank === 4 ? ([firstWeight!.shape[1], options.crop, options.crop] as [number, number, number]) : null;
    const imageShape = options.inputShape ?? cropped ?? defaultImageShape(width, path);
    const built = resnet ? null : buildArch(spec, state, imageShape, options.activation ?? "relu");
    const residual = built ? null : resnetModel(state, imageShape, path, { stemPool: stemPool ?? undefined });
    model = built ? buildClassifier(built) : residual!.model;
    if (residual) note = `${note}; built a ResNet, stem: ${residual.stem} (arch resnet:maxpool or resnet:nomaxpool to choose the pool)`;
    preprocessing = { layout: built?.inputShape.length === 1 ? "flat" : "nchw", mean: options.mean ?? [0], std: options.std ?? [1], imageShape, ...sizing(options.resize, options.crop) };
  }
  checkChannels(preprocessing, channelsOf(model, preprocessing));
  const shape = preprocessing.imageShape;
  if (preprocessing.crop !== undefined && shape && (shape[1] !== preprocessing.crop || shape[2] !== preprocessing.crop)) {
    fail("bad-option", `\`crop\` ${preprocessing.crop} cuts ${preprocessing.crop}x${preprocessing.crop} images but the model takes ${shape.join("x")}; give \`inputShape\` ${shape[0]}x${preprocessing.crop}x${preprocessing.crop} (a network that takes any size) or the crop it was trained with`, { options: ["crop", "inputShape"] });
  }
  writeMetadata(model, { preprocessing, classNames: options.classNames ?? null });
  // 0–255 values (torchvision's 123.675, …): lesion's pixels are in [0, 1], so no mean above 1 is right (trials: 10.70 %
  // and 9.00 % for 99.80 % and 87.60 %, after a warning the second read as a correction).
  if (preprocessing.mean.some((m) => m > 1)) {
    const scaled = (values: number[]) => values.map((v) => Number((v / 255).toPrecision(4))).join(",");
    fail("bad-option", `\`mean\` ${preprocessing.mean.join(",")} is above 1, but lesion's pixels are in [0, 1]: for a model trained on 0–255 pixels give the mean and std divided by 255 (\`mean\` ${scaled(preprocessing.mean)} \`std\` ${scaled(preprocessing.std)})`, { options: ["mean", "std"], value: preprocessing.mean });
  }
  return { bytes: encodeModel(model), format: isOnnx ? "onnx" : "checkpoint", preprocessing, note };
}

/** The channels of the model's images: from the image shape, else from an NCHW graph input; null when unknown. */
function channelsOf(model: ModelProto, preprocessing: Preprocessing): number | null {
  if (preprocessing.imageShape) return preprocessing.imageShape[0];
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const input = (graph.input ?? []).find((i) => !initializers.has(i.name ?? ""));
  const shape = input ? valueInfoShape(input) : null;
  if (shape?.length === 4 && typeof shape[1] === "number") return shape[1];
  // A flat input: MNIST's and CIFAR's widths as everywhere else (defaultImageShape), others unknown.
  return shape?.length === 2 && typeof shape[1] === "number" ? ({ 784: 1, 3072: 3 } as Record<number, number>)[shape[1]] ?? null : null;
}


/** The resize and crop entries of the metadata, only those set (a model without them keeps its old metadata). */
function sizing(resize: number | undefined, crop: number | undefined): Pick<Preprocessing, "resize" | "crop"> {
  return { ...(resize ? { resize } : {}), ...(crop ? { crop } : {}) };
}

function defaultImageShape(inputWidth: number, path: string): [number, number, number] {
  if (inputWidth === 784) return [1, 28, 28];
  if (inputWidth === 3072) return [3, 32, 32];
  fail("bad-option", `cannot tell the image shape of ${path} from its input width ${inputWidth || "(unknown)"}; give \`inputShape\` (CxHxW)`, { options: ["inputShape"] });
}

/** The image shape [C, H, W] of an image input whose sample shape is fixed ([N, C, H, W], [N, H, W, C], [N, H, W]); else null. */
function guessImageShape(model: ModelProto, layout: Preprocessing["layout"], crop?: number): [number, number, number] | null {
  const dims = (model.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? []).slice(1).map((d) => Number(d.dimValue ?? 0));
  // A network that takes any height and width (dynamic axes) takes the crop's size: its channels are fixed.
  const channels = layout === "nhwc" ? dims[2] : dims[0];
  if (crop !== undefined && dims.length === 3 && Number.isInteger(channels) && channels > 0 && !dims.every((d) => Number.isInteger(d) && d > 0)) return [channels, crop, crop];
  if (!dims.every((d) => Number.isInteger(d) && d > 0)) return null;
  if (dims.length === 3) return layout === "nhwc" ? [dims[2], dims[0], dims[1]] : [dims[0], dims[1], dims[2]];
  if (dims.length === 2 && layout !== "flat") return [1, dims[0], dims[1]];
  return null;
}

function guessLayout(model: ModelProto): Preprocessing["layout"] {
  const dims = model.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
  if (dims.length === 2) return "flat";
  const last = dims[3]?.dimValue;
  return dims.length === 4 && last !== undefined && last !== null && Number(last) <= 4 && Number(dims[1]?.dimValue ?? 0) > 4 ? "nhwc" : "nchw";
}

/**
 * For `arch` resnet, resnet:maxpool or resnet:nomaxpool, whether the stem pools (undefined: from conv1's size); null
 * for any other spec. A depth (resnet18, resnet20) is refused: the keys tell it.
 */
function resnetStemPool(arch: string): boolean | undefined | null {
  const spec = arch.trim();
  if (/^(wide_)?resnet(\d+|_.*)$/.test(spec)) fail("bad-arch", `\`arch\` ${spec}: give resnet (lesion reads the depth, widths and blocks from the state_dict's keys)`, { arch: spec, options: ["arch"] });
  return spec === "resnet" ? undefined : spec === "resnet:maxpool" ? true : spec === "resnet:nomaxpool" ? false : null;
}
