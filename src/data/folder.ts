/**
 * A folder of class sub-folders of PNG/JPEG images (`digits/0/a.png`, `digits/1/b.jpg`, …), as torchvision's
 * ImageFolder reads them: classes are the sub-folder names in sorted order, each must hold an image, and every image is
 * brought to the model's channels as PIL's `convert` does. Images of any size can be resized and center-cropped as
 * torchvision's `Resize(N)`, `CenterCrop(M)` do (`resizeImage.ts`); after that every image must have the same size.
 * Scored against a model with class names, sub-folders are matched to them by name (`matchClassNames`, which
 * `loadDataset`'s `classNames` applies).
 */
import { readdirSync, realpathSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { fail } from "../errors.js";
import { describeWriteFault } from "../files.js";
import { assembleDataset, keptCount } from "./assembleDataset.js";
import { byCodePoint } from "./byCodePoint.js";
import { imageDecoder } from "./decodeImage.js";
import { centerCrop, resizeShorter, type RgbaImage } from "./resizeImage.js";
import type { Dataset } from "./types.js";

const EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);
/** The other files torchvision's ImageFolder takes as images (IMG_EXTENSIONS): skipping them would shift its samples. */
const OTHER_IMAGES = new Set([".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"]);

/** How an image folder's images are brought to one size before use (torchvision's Resize and CenterCrop). */
export interface ImageSizing {
  /** Resize the shorter side to this many pixels (PIL's antialiased bilinear filter). Default: no resizing. */
  resize?: number | null;
  /** Cut out the central crop×crop square (after resizing). Default: no crop. */
  crop?: number | null;
  /**
   * Channels of the result, 1 or 3 (the model's): every image converted as PIL's `convert("L")` (L = (19595 R +
   * 38470 G + 7471 B + 2¹⁵) >> 16, torchvision's `Grayscale()`) or `convert("RGB")` (gray repeated, ImageFolder's
   * loader), after resizing. Default: 1 when every image is gray (R = G = B), else 3.
   */
  channels?: number | null;
}

/**
 * Loads `root` as [0,1] NCHW pixels, the first `limit` images (in class then file-name order) when given.
 * @throws LesionError `missing-file` (no such folder), `bad-data` (no classes, a class sub-folder without images — as
 *   ImageFolder, which would otherwise number the classes differently —, an image type other than PNG and JPEG, an
 *   unreadable image, sizes that differ after `sizing`, an image smaller than the crop), `bad-option` (`channels`
 *   neither 1 nor 3).
 */
export async function loadImageFolder(root: string, spec: string, limit?: number, sizing: ImageSizing = {}): Promise<Dataset> {
  if (sizing.channels != null && sizing.channels !== 1 && sizing.channels !== 3) fail("bad-option", `an image folder is read with 1 or 3 channels, not ${sizing.channels}`, { options: ["channels"], value: sizing.channels });
  let entries: string[];
  try {
    if (!statSync(root).isDirectory()) fail("missing-file", `${root} is not a folder of class sub-folders`, { path: root });
    entries = readdirSync(root);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") fail("missing-file", `data folder not found: ${root}`, { path: root });
    unreadable(error, root);
  }
  const isFolder = (path: string) => {
    try {
      return statSync(path).isDirectory();
    } catch (error) {
      return unreadable(error, path);
    }
  };
  const classNames = entries.filter((name) => isFolder(join(root, name))).sort(byCodePoint);
  if (classNames.length === 0) fail("bad-data", `${root} has no class sub-folders (expected ${root}/<class>/<image>.png)`, { path: root });
  const files: Array<{ path: string; label: number }> = [];
  const empty: string[] = [];
  classNames.forEach((name, label) => {
    const images = imagesUnder(join(root, name));
    if (images.length === 0) empty.push(name);
    for (const path of images) files.push({ path, label });
  });
  if (files.length === 0) fail("bad-data", `${root} has no PNG or JPEG images in its class sub-folders`, { path: root });
  // A folder left beside the classes (`_unused/`, `.ipynb_checkpoints/`) would be a class, shifting the labels after
  // it: ImageFolder refuses it too ("Found no valid file for the classes …").
  if (empty.length > 0) fail("bad-data", `${root} has class sub-folder${empty.length === 1 ? "" : "s"} without images: ${empty.join(", ")}; every sub-folder is a class (torchvision's ImageFolder refuses these too): move ${empty.length === 1 ? "it" : "them"} out of ${root}`, { path: root, classNames: empty });
  const n = keptCount(files.length, limit);
  const decode = await imageDecoder();
  const decoded = files.slice(0, n).map(({ path }) => sized(decode(path), sizing, path));
  const { width, height } = decoded[0];
  const sizingText = sizing.resize || sizing.crop ? ` after ${[sizing.resize ? `resize ${sizing.resize}` : "", sizing.crop ? `crop ${sizing.crop}` : ""].filter(Boolean).join(", ")}` : "";
  decoded.forEach((image, i) => {
    if (image.width !== width || image.height !== height) {
      fail("bad-data", `${files[i].path} is ${image.width}x${image.height} but ${files[0].path} is ${width}x${height}${sizingText}; every image must have the same size (import the model with \`resize\` N \`crop\` M to bring images of any size to M x M)`, { path: files[i].path, options: ["resize", "crop"] });
    }
  });
  const channels = sizing.channels ?? (decoded.every(isGray) ? 1 : 3);
  const plane = width * height;
  const images = new Float32Array(n * channels * plane);
  decoded.forEach(({ rgba }, s) => {
    if (channels === 3) {
      for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) images[(s * 3 + c) * plane + p] = rgba[p * 4 + c] / 255;
    } else {
      // PIL's rgb2l (Pillow's Convert.c), exact for gray pixels (the weights sum to 2¹⁶).
      for (let p = 0; p < plane; p++) images[s * plane + p] = ((rgba[p * 4] * 19595 + rgba[p * 4 + 1] * 38470 + rgba[p * 4 + 2] * 7471 + 0x8000) >>> 16) / 255;
    }
  });
  return assembleDataset({ spec, shape: [channels, height, width], images, labels: Int32Array.from(files.slice(0, n), (f) => f.label), numClasses: classNames.length, classNames, source: root, folderClasses: [...classNames] });
}

function sized(image: RgbaImage, sizing: ImageSizing, path: string): RgbaImage {
  const resized = sizing.resize ? resizeShorter(image, sizing.resize) : image;
  return sizing.crop ? centerCrop(resized, sizing.crop, path) : resized;
}

function isGray({ rgba }: RgbaImage): boolean {
  for (let p = 0; p < rgba.length; p += 4) if (rgba[p] !== rgba[p + 1] || rgba[p] !== rgba[p + 2]) return false;
  return true;
}

/**
 * A file-system fault reading the data (a symlink loop, permission) as one `missing-file` line naming the path (a
 * trial's loop of two symlinks had been an internal error); anything else passes through.
 */
function unreadable(error: unknown, path: string): never {
  const code = (error as { code?: string }).code;
  if (typeof code !== "string" || !/^E[A-Z]+$/.test(code)) throw error;
  fail("missing-file", `cannot read ${path}: ${describeWriteFault(code)} (${code})`, { path });
}

/**
 * The images under a class folder, its sub-folders too, in torchvision's ImageFolder order (`sorted(os.walk(…))`:
 * folders by path, files by name within each): a trial's image in `7/sub/` had been left out without a word.
 */
function imagesUnder(dir: string): string[] {
  const folders: Array<{ path: string; files: string[] }> = [];
  const seen = new Set<string>();
  const walk = (path: string) => {
    // A link back up the tree would walk forever (os.walk follows links too).
    const real = realpathSync(path);
    if (seen.has(real)) return;
    seen.add(real);
    const files: string[] = [];
    for (const entry of readdirSync(path)) {
      const child = join(path, entry);
      // A link to nothing is a file here, as os.walk has it: its decoding then names it.
      let folder = false;
      try {
        folder = statSync(child).isDirectory();
      } catch {
        // Left a file.
      }
      const extension = extname(entry).toLowerCase();
      if (folder) walk(child);
      else if (EXTENSIONS.has(extension)) files.push(entry);
      else if (OTHER_IMAGES.has(extension)) fail("bad-data", `${child} is a ${extension.slice(1).toUpperCase()} image; lesion reads PNG and JPEG image folders (convert it, or move it out: ImageFolder would count it)`, { path: child });
    }
    folders.push({ path, files: files.sort(byCodePoint) });
  };
  walk(dir);
  return folders.sort((a, b) => byCodePoint(a.path, b.path)).flatMap((f) => f.files.map((file) => join(f.path, file)));
}
