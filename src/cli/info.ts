import type { Command } from "commander";
import { closeModel, openModel } from "../engine/model.js";
import { info, type InfoResult, type SiteInfo } from "../models/info.js";
import { LAYER_OPS } from "../onnx/sites.js";
import { printJson } from "./common.js";

const HEADS: Record<InfoResult["head"], string> = {
  logits: "logits",
  softmax: "softmax probabilities (loss from the logits before the Softmax)",
  "log-softmax": "log-softmax log-probabilities",
  sigmoid: "sigmoid probability of class 1 (two classes; loss is the binary cross-entropy)",
  "one-logit": "one logit z, P(class 1) = sigmoid(z) (two classes, as BCEWithLogitsLoss; loss is the binary cross-entropy)",
};

export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("show a model's input, preprocessing, classes and sites")
    .argument("<model>", "ONNX model file")
    .option("--json", "print the result as JSON")
    .action(async (path: string, flags: { json?: boolean }) => {
      const model = await openModel(path);
      try {
        const result = info(model);
        if (flags.json) return printJson(result);
        const p = result.preprocessing;
        console.log(`${result.model}  sha256 ${result.sha256.slice(0, 16)}…`);
        // An [N, H, W] input (a grayscale export without a channel axis) takes the images' one channel as it is: "nchw"
        // named an axis it does not have.
        const layout = p.layout === "nchw" && result.input.shape.length === 2 ? "hw (one channel, no channel axis)" : p.layout;
        console.log(`input ${result.input.name} [N, ${result.input.shape.join(", ")}], layout ${layout}, (x − ${p.mean.join("/")}) / ${p.std.join("/")}${result.preprocessingRecorded ? "" : " (none recorded: the pixels as they are; lesion import records a mean and std)"}${p.imageShape ? `, images ${p.imageShape.join("x")}` : ""}${p.resize ? `, image folders resized to ${p.resize}` : ""}${p.crop ? `${p.resize ? " then" : ", image folders"} center-cropped to ${p.crop}x${p.crop}` : ""}`);
        console.log(`output ${HEADS[result.head]}`);
        // A name with a comma, a quote or edge spaces is quoted, so "cat, black" reads as one class.
        const shown = (name: string) => (/[,"]|^\s|\s$|^$/.test(name) ? JSON.stringify(name) : name);
        console.log(`classes ${result.numClasses}${result.classNames ? `: ${result.classNames.map(shown).join(", ")}` : ""}`);
        console.log("sites:");
        // A channels-last site says where its units are: its shape alone ([8, 8, 128]) does not. Columns as wide as
        // their longest entry, so the op column stays in line.
        const width = Math.max(20, ...result.sites.map((s) => s.name.length + 1));
        const shapes = result.sites.map((s) => `[${s.shape.join(", ")}]${s.unitAxis !== 1 ? " (units on the last axis)" : ""}`);
        const shapeWidth = Math.max(...shapes.map((t) => t.length));
        // A layer's output names its layer's node, and the node its tensor comes out of where that is another
        // (`MatMul fc2/MatMul → fc2/Add`): the op beside an Identity's name had read as a MatMul called out/Identity.
        const node = (s: SiteInfo) => (LAYER_OPS.has(s.op) && s.layer && s.layer !== s.node ? `${s.layer} → ${s.node}` : s.node);
        result.sites.forEach((s, i) => console.log(`  ${s.name.padEnd(width)} ${s.kind.padEnd(5)} ${String(s.units).padStart(5)} units  ${shapes[i].padEnd(shapeWidth)}  ${s.op} ${node(s)}`));
        for (const n of result.notes) console.log(`note: ${n}`);
        for (const w of result.warnings) console.log(`warning: ${w}`);
      } finally {
        await closeModel(model);
      }
    });
}
