import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { fail, isLesionError } from "../errors.js";
import { checkOutputFile, readFileChecked, writeFileAtomic } from "../files.js";
import type { Activation } from "../models/arch.js";
import { closeModel, openModel } from "../engine/model.js";
import { decodeModel } from "../onnx/proto.js";
import { importModel, type ImportOptions } from "../models/importModel.js";
import { OVERWRITE_FLAG, parseInteger, parseNumberList, parseShape, type FlagTable } from "./common.js";
import { warningLine } from "./flagMessage.js";

const FLAGS: FlagTable<ImportOptions> = {
  arch: "--arch <spec>",
  activation: "--activation <name>",
  mean: "--mean <values>",
  std: "--std <values>",
  resize: "--resize <N>",
  crop: "--crop <M>",
  inputShape: "--input-shape <CxHxW>",
  classNames: "--class-names <names>",
};

const ACTIVATIONS = ["relu", "tanh", "sigmoid", "leakyrelu", "gelu", "silu"];

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("turn a PyTorch checkpoint (.pt, .safetensors) or an ONNX file into a lesion model")
    .argument("<source>", "checkpoint or ONNX file")
    .requiredOption("-o, --output <file>", "ONNX file to write")
    .option(FLAGS.arch!, "architecture: 'mlp', mlp:784-100-10, cnn:small, vgg:small, resnet (torchvision's and the common CIFAR ResNets, read from the keys) or a layer list such as conv(padding=1),bn,relu,maxpool(2),flatten,linear")
    .option(FLAGS.activation!, "activation between the layers of --arch mlp (relu, tanh, sigmoid, leakyrelu, gelu, silu)", "relu")
    .option(FLAGS.mean!, "per-channel mean subtracted from [0,1] pixels, e.g. 0.5 or 0.485,0.456,0.406")
    .option(FLAGS.std!, "per-channel standard deviation, e.g. 0.5")
    .option(FLAGS.resize!, "image folders: resize the shorter side to N pixels (bilinear, antialiased as PIL/torchvision), e.g. 256")
    .option(FLAGS.crop!, "image folders: then center-crop M x M pixels, e.g. 224")
    .option(FLAGS.inputShape!, "image shape CxHxW (default for an MLP: from its input width)")
    .option(FLAGS.classNames!, "class names in class order: comma-separated, or @FILE (a JSON array of names, or one name per line) for names with commas")
    .option(OVERWRITE_FLAG, "replace an existing, different file at the output path")
    .action(async (source: string, flags: { output: string; arch?: string; activation: string; mean?: string; std?: string; resize?: string; crop?: string; inputShape?: string; classNames?: string; overwrite?: boolean }) => {
      if (!ACTIVATIONS.includes(flags.activation)) fail("bad-option", `--activation must be one of ${ACTIVATIONS.join(", ")}, got '${flags.activation}'`, { options: ["activation"], value: flags.activation });
      checkOutputFile(flags.output);
      const result = await importModel(source, {
        arch: flags.arch,
        activation: flags.activation as Activation,
        mean: flags.mean ? parseNumberList(flags.mean, "--mean") : undefined,
        std: flags.std ? parseNumberList(flags.std, "--std") : undefined,
        resize: flags.resize === undefined ? undefined : parseInteger(flags.resize, "--resize"),
        crop: flags.crop === undefined ? undefined : parseInteger(flags.crop, "--crop"),
        inputShape: flags.inputShape ? parseShape(flags.inputShape, "--input-shape") : undefined,
        classNames: flags.classNames ? parseClassNames(flags.classNames) : undefined,
      });
      // Open the result before writing: a model onnxruntime cannot run is never written. Its faults are the source's
      // (a trial's two-input export was said to be the unwritten output's: "imp/2in.onnx has 2 inputs").
      const model = await openModel(result.bytes, { name: source }).catch((error: unknown) => {
        // The names came from the flag, not from the file the message would name (which is not written).
        if (isLesionError(error) && error.code === "bad-model" && flags.classNames && error.details.outputs !== undefined) {
          fail("bad-option", `--class-names gives ${error.details.classes} names but ${source} outputs ${error.details.outputs} classes`, { options: ["classNames"], value: flags.classNames });
        }
        throw error;
      });
      try {
        // Another model at the output path is replaced only when asked, as train does; the same bytes again (a rerun
        // of the same import) are no loss.
        if (existsSync(flags.output) && !flags.overwrite && !Buffer.from(result.bytes).equals(readFileSync(flags.output))) {
          fail("resume-mismatch", `${flags.output} exists (${isOnnxFile(flags.output) ? "another model" : "no ONNX model"}); use --overwrite to replace it, or choose another -o path`, { path: flags.output, options: ["overwrite"] });
        }
        writeFileAtomic(flags.output, result.bytes);
        if (result.note) console.log(`read ${source}: ${result.note}`);
        // A checkpoint's normalisation is not in it: without the flags the network gets raw [0, 1] pixels, which a
        // trial's MNIST model (trained on normalised pixels) scored 88.98 % for 92.99 %, without a word.
        if (result.format === "checkpoint" && flags.mean === undefined && flags.std === undefined) {
          const example = result.preprocessing.imageShape?.[0] === 3 ? "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 for torchvision's ImageNet models" : "--mean 0.1307 --std 0.3081 for torchvision's MNIST";
          console.error(`lesion: note: no --mean/--std: the model gets pixels in [0, 1] as they are; give the normalisation it was trained with (e.g. ${example})`);
        }
        console.log(`wrote ${flags.output}: sites ${model.sites.map((s) => `${s.name} (${s.units})`).join(", ")}; ${model.numClasses} classes`);
        for (const w of model.warnings) console.error(warningLine(w));
      } finally {
        await closeModel(model);
      }
    });
}

/**
 * `--class-names`: `a,b,c`, or `@FILE` holding a JSON array of strings or one name per line, for names a comma list
 * cannot carry ("cat, black"). Throws `bad-option` (a file that is neither), `missing-file`.
 */
export function parseClassNames(value: string): string[] {
  if (!value.startsWith("@")) return value.split(",").map((s) => s.trim());
  const path = value.slice(1);
  const text = readFileChecked(path, "class names file").toString("utf8");
  if (text.trimStart().startsWith("[")) {
    let names: unknown;
    try {
      names = JSON.parse(text);
    } catch (error) {
      fail("bad-option", `--class-names ${value}: not valid JSON (${(error as Error).message})`, { options: ["classNames"], value });
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) fail("bad-option", `--class-names ${value}: expected a JSON array of strings`, { options: ["classNames"], value });
    return names as string[];
  }
  return text.split(/\r?\n/).filter((line) => line.length > 0);
}

/** Whether the file at `path` decodes as an ONNX model (for the refusal's words: a data file is not "another model"). */
function isOnnxFile(path: string): boolean {
  try {
    return (decodeModel(readFileSync(path), path).graph?.node?.length ?? 0) > 0;
  } catch {
    return false;
  }
}
