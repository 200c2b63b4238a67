/**
 * ImageNet-style preprocessing of decoded images, as torchvision's `Resize(N)` then `CenterCrop(M)` compute it on
 * the PIL images its `ImageFolder` loads: the shorter side resized to N (the longer one to ⌊N·long/short⌋) with
 * bilinear interpolation, then the central M×M square cut out.
 *
 * Antialiasing: PIL's, which torchvision uses for PIL images (and, since torchvision 0.17, for tensors with its
 * default `antialias=True`): when shrinking, the triangle filter is widened by the scale factor, so every source
 * pixel under an output pixel contributes (PIL `Image.resize(…, BILINEAR)`, Pillow's `Resample.c`). This is a port
 * of that code, fixed-point arithmetic included (22-bit coefficients, a horizontal pass then a vertical one, each
 * rounded to 8 bits), so its output equals Pillow's byte for byte. It is not `F.interpolate(…, antialias=False)`,
 * which samples only the 2×2 nearest pixels and aliases when shrinking.
 */
import { fail } from "../errors.js";

/** A decoded image: `rgba` holds width·height pixels of 4 bytes (R, G, B, A), row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/**
 * The size torchvision's `Resize(size)` gives an image of `width`×`height`: the shorter side becomes `size`, the
 * longer one ⌊size·long/short⌋ (torchvision's `_compute_resized_output_size`).
 */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const other = Math.trunc((size * long) / short);
  return width <= height ? { width: size, height: other } : { width: other, height: size };
}

/**
 * `image` with its shorter side resized to `size` by PIL's antialiased bilinear filter (see the module comment).
 * Alpha is resampled like the colours (lesion drops it afterwards, as torchvision's RGB loader does before).
 */
export function resizeShorter(image: RgbaImage, size: number): RgbaImage {
  const target = resizedSize(image.width, image.height, size);
  return resample(image, target.width, target.height);
}

/**
 * The central `size`×`size` square of `image`, placed as torchvision's `center_crop` places it (offsets
 * round((H − size)/2) and round((W − size)/2), halves rounded to even as Python's `round`).
 * @throws LesionError `bad-data` when the image is smaller than the crop (`path` names it).
 */
export function centerCrop(image: RgbaImage, size: number, path: string): RgbaImage {
  if (size > image.width || size > image.height) {
    fail("bad-data", `${path} is ${image.width}x${image.height} after resizing, smaller than the crop ${size}x${size}`, { path });
  }
  const top = roundHalfEven((image.height - size) / 2);
  const left = roundHalfEven((image.width - size) / 2);
  const rgba = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * image.width + left) * 4;
    rgba.set(image.rgba.subarray(from, from + size * 4), y * size * 4);
  }
  return { width: size, height: size, rgba };
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Pillow's ImagingResample with the BILINEAR filter over the whole image (box = the image). */
export function resample(image: RgbaImage, width: number, height: number): RgbaImage {
  let current = image;
  if (width !== current.width) current = pass(current, width, "horizontal");
  if (height !== current.height) current = pass(current, height, "vertical");
  return current === image ? { width, height, rgba: image.rgba.slice() } : current;
}

/** One pass of Pillow's separable resampling, along x (horizontal) or y (vertical), 8 bits per channel. */
function pass(image: RgbaImage, outSize: number, axis: "horizontal" | "vertical"): RgbaImage {
  const horizontal = axis === "horizontal";
  const inSize = horizontal ? image.width : image.height;
  const { ksize, bounds, kk } = coefficients(inSize, outSize);
  const width = horizontal ? outSize : image.width;
  const height = horizontal ? image.height : outSize;
  const rgba = new Uint8Array(width * height * 4);
  const source = image.rgba;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = horizontal ? x : y;
      const min = bounds[o * 2];
      const count = bounds[o * 2 + 1];
      const k = o * ksize;
      for (let c = 0; c < 4; c++) {
        let sum = ONE / 2;
        for (let i = 0; i < count; i++) {
          const pixel = horizontal ? source[(y * image.width + min + i) * 4 + c] : source[((min + i) * image.width + x) * 4 + c];
          sum += pixel * kk[k + i];
        }
        rgba[(y * width + x) * 4 + c] = clip8(sum);
      }
    }
  }
  return { width, height, rgba };
}

/** Pillow's clip8: the 22-bit fixed-point sum shifted down (arithmetic shift) and clamped to 0..255. */
function clip8(sum: number): number {
  const v = Math.floor(sum / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle, support 1) filter. */
function coefficients(inSize: number, outSize: number): { ksize: number; bounds: Int32Array; kk: Int32Array } {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? weights[x] / ww : weights[x];
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}
