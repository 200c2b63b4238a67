/**
 * A user's own model and data on the command line (helper trial "newuser8"): what `lesion import` keeps of an ONNX
 * export, the one line a wrong `--class-names` gets, and the note that says how an image folder's sub-folders become
 * the classes of a model that names none.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runLesion } from "../lesionCli.js";

const GELU = fileURLToPath(new URL("../fixtures/torch/mlp_gelu.onnx", import.meta.url));
const VGG = fileURLToPath(new URL("../fixtures/cnn/vgg_bn.onnx", import.meta.url));
const FOLDER = fileURLToPath(new URL("../fixtures/resize/images", import.meta.url));

const lesion = (...args: string[]) => runLesion(args);

describe("a user's own model and data", () => {
  it("lesion import of an ONNX export with a fixed image input keeps its image shape (1x8x8), as info shows it before import", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-user-"));
    const before = JSON.parse(lesion("info", GELU, "--json").stdout);
    expect(before.preprocessing.imageShape).toEqual([1, 8, 8]);
    const out = join(dir, "m.onnx");
    const imported = lesion("import", GELU, "--class-names", "a,b,c,d,e", "-o", out);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(lesion("info", out, "--json").stdout).preprocessing.imageShape).toEqual([1, 8, 8]);
  });

  it("lesion import --class-names with 3 names for 5 outputs: one line naming the flag, exit 1, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-user-"));
    const out = join(dir, "m.onnx");
    const run = lesion("import", GELU, "--class-names", "a,b,c", "-o", out);
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([`lesion: --class-names gives 3 names but ${GELU} outputs 5 classes`]);
    expect(existsSync(out)).toBe(false);
  });

  it("lesion eval of an image folder with a model that names no classes: a note says which class each sub-folder becomes", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-user-"));
    const model = join(dir, "vgg.onnx");
    expect(lesion("import", VGG, "--resize", "36", "--crop", "32", "-o", model).status).toBe(0);
    const run = lesion("eval", model, "--data", FOLDER);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain(`lesion: note: vgg.onnx names no classes, so the sub-folders of ${FOLDER} are numbered as torchvision's ImageFolder numbers its classes (folder → class: cat/ → 0, dog/ → 1)`);
  });
});
