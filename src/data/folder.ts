/**
 * A folder of class sub-folders of PNG/JPEG images (`digits/0/a.png`, `digits/1/b.jpg`, …), as torchvision's
 * ImageFolder reads them: classes are the sub-folder names in sorted order. Images of any size can be resized and
 * center-cropped as torchvision's `Resize(N)`, `CenterCrop(M)` do (`resizeImage.ts`); after that every image must
 * have the same size. Grayscale when every image is gray (R = G = B), else RGB; alpha is dropped. Scored against a
 * model with class names, sub-folders are matched to them by name (`matchClassNames`, which `loadDataset`'s
 * `classNames` applies).
 */
import { readdirSync, realpathSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { fail, isLesionError } from "../errors.js";
import { describeWriteFault, readFileChecked } from "../files.js";
import { assembleDataset, keptCount } from "./assembleDataset.js";
import { centerCrop, resizeShorter, type RgbaImage } from "./resizeImage.js";
import type { Dataset } from "./types.js";

const EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);

/** How an image folder's images are brought to one size before use (torchvision's Resize and CenterCrop). */
export interface ImageSizing {
  /** Resize the shorter side to this many pixels (PIL's antialiased bilinear filter). Default: no resizing. */
  resize?: number | null;
  /** Cut out the central crop×crop square (after resizing). Default: no crop. */
  crop?: number | null;
}

/**
 * Loads `root` as [0,1] NCHW pixels, the first `limit` images (in class then file-name order) when given.
 * @throws LesionError `missing-file` (no such folder), `bad-data` (no classes or images, an unreadable image, sizes
 *   that differ after `sizing`, an image smaller than the crop).
 */
export function loadImageFolder(root: string, spec: string, limit?: number, sizing: ImageSizing = {}): Dataset {
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
  const classNames = entries.filter((name) => isFolder(join(root, name))).sort();
  if (classNames.length === 0) fail("bad-data", `${root} has no class sub-folders (expected ${root}/<class>/<image>.png)`, { path: root });
  const files: Array<{ path: string; label: number }> = [];
  classNames.forEach((name, label) => {
    for (const path of imagesUnder(join(root, name))) files.push({ path, label });
  });
  if (files.length === 0) fail("bad-data", `${root} has no PNG or JPEG images in its class sub-folders`, { path: root });
  const n = keptCount(files.length, limit);
  const decoded = files.slice(0, n).map(({ path }) => sized(decode(path), sizing, path));
  const { width, height } = decoded[0];
  const sizingText = sizing.resize || sizing.crop ? ` after ${[sizing.resize ? `resize ${sizing.resize}` : "", sizing.crop ? `crop ${sizing.crop}` : ""].filter(Boolean).join(", ")}` : "";
  decoded.forEach((image, i) => {
    if (image.width !== width || image.height !== height) {
      fail("bad-data", `${files[i].path} is ${image.width}x${image.height} but ${files[0].path} is ${width}x${height}${sizingText}; every image must have the same size (import the model with \`resize\` N \`crop\` M to bring images of any size to M x M)`, { path: files[i].path, options: ["resize", "crop"] });
    }
  });
  const gray = decoded.every(({ rgba }) => {
    for (let p = 0; p < rgba.length; p += 4) if (rgba[p] !== rgba[p + 1] || rgba[p] !== rgba[p + 2]) return false;
    return true;
  });
  const channels = gray ? 1 : 3;
  const plane = width * height;
  const images = new Float32Array(n * channels * plane);
  decoded.forEach(({ rgba }, s) => {
    for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) images[(s * channels + c) * plane + p] = rgba[p * 4 + c] / 255;
  });
  return assembleDataset({ spec, shape: [channels, height, width], images, labels: Int32Array.from(files.slice(0, n), (f) => f.label), numClasses: classNames.length, classNames, source: root, folderClasses: [...classNames] });
}

function sized(image: RgbaImage, sizing: ImageSizing, path: string): RgbaImage {
  const resized = sizing.resize ? resizeShorter(image, sizing.resize) : image;
  return sizing.crop ? centerCrop(resized, sizing.crop, path) : resized;
}

function decode(path: string): RgbaImage {
  const bytes = readFileChecked(path, "image");
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50) {
      const png = PNG.sync.read(bytes);
      // pngjs rounds 16-bit samples to 8 bits: say so rather than compute on pixels the file does not hold.
      if (png.depth === 16) fail("bad-data", `${path} is a 16-bit PNG; lesion reads 8-bit PNG and JPEG folders (give 16-bit images as a float32 npy in [0,1])`, { path });
      return { width: png.width, height: png.height, rgba: png.data };
    }
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: image.width, height: image.height, rgba: image.data };
  } catch (error) {
    if (isLesionError(error)) throw error;
    fail("bad-data", `${path} is not a readable PNG or JPEG image (${(error as Error).message.split("\n")[0]})`, { path });
  }
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
      if (folder) walk(child);
      else if (EXTENSIONS.has(extname(entry).toLowerCase())) files.push(entry);
    }
    folders.push({ path, files: files.sort() });
  };
  walk(dir);
  return folders.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).flatMap((f) => f.files.map((file) => join(f.path, file)));
}
