/**
 * PNG and JPEG files decoded to the pixels PIL gives torchvision's ImageFolder. PNG through pngjs (8-bit samples are
 * exact). JPEG through libjpeg-turbo's decoder built to WebAssembly (@jsquash/jpeg, MozJPEG's decoder, which is
 * libjpeg-turbo's): the same integer IDCT and "fancy" chroma upsampling as the libjpeg-turbo PIL links, so a colour
 * JPEG's pixels equal PIL's byte for byte. jpeg-js, used before, upsampled chroma by repetition and was up to 71 levels
 * off PIL at the colour edges of a 4:2:0 test image (a trial's folder: 2 of 407 predictions changed).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PNG } from "pngjs";
import { fail, isLesionError } from "../errors.js";
import { readFileChecked } from "../files.js";
import type { RgbaImage } from "./resizeImage.js";

/** Decodes one image file (signature-sniffed, not by extension) with `decoder`. */
export type ImageDecoder = (path: string) => RgbaImage;

interface JpegModule {
  decode(bytes: Uint8Array, preserveOrientation: boolean): { width: number; height: number; data: Uint8ClampedArray } | null;
}

/**
 * The decoder, ready to use: the JPEG codec's WebAssembly is compiled once per call (about 10 ms; `loadDataset`
 * imports this module only for a folder). libjpeg's messages ("Premature end of JPEG file") are kept to name a file's
 * fault.
 */
export async function imageDecoder(): Promise<ImageDecoder> {
  const messages: string[] = [];
  const require = createRequire(import.meta.url);
  const wasm = await WebAssembly.compile(readFileSync(require.resolve("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm")));
  const factory = (await import("@jsquash/jpeg/codec/dec/mozjpeg_dec.js")).default as (options: object) => Promise<JpegModule>;
  const jpeg = await factory({
    noInitialRun: true,
    instantiateWasm: (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => {
      const instance = new WebAssembly.Instance(wasm, imports);
      done(instance);
      return instance.exports;
    },
    print: (text: string) => messages.push(text),
    printErr: (text: string) => messages.push(text),
  });
  // libjpeg only warns at a truncated file (and fills the rest with gray, or fails later): the warning names the fault.
  const truncation = () => messages.find((text) => /premature end/i.test(text));
  return (path) => {
    const bytes = readFileChecked(path, "image");
    messages.length = 0;
    try {
      if (bytes[0] === 0x89 && bytes[1] === 0x50) return decodePng(bytes, path);
      if (bytes[0] !== 0xff || bytes[1] !== 0xd8) fail("bad-data", `${path} is not a PNG or JPEG image (its first bytes are neither's signature)`, { path });
      // EXIF orientation is not applied: PIL's Image.open, and so ImageFolder, leave the pixels as stored.
      const image = jpeg.decode(bytes, false);
      // PIL refuses a truncated file ("image file is truncated"), which libjpeg decodes.
      const truncated = truncation();
      if (!image || truncated) fail("bad-data", `${path} is not a readable JPEG image (${truncated ?? messages.at(-1) ?? "decoding failed"})`, { path });
      return { width: image.width, height: image.height, rgba: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.length) };
    } catch (error) {
      if (isLesionError(error)) throw error;
      // libjpeg's fatal errors end its "program" (the codec stays usable); say what it printed, not "exit(1)".
      const said = truncation() ?? messages.at(-1);
      if (said && /unsupported color conversion/i.test(said)) fail("bad-data", `${path} is a CMYK JPEG; lesion reads RGB and grayscale JPEG (convert it to RGB)`, { path });
      fail("bad-data", `${path} is not a readable ${bytes[0] === 0x89 ? "PNG" : "JPEG"} image (${said ?? (error as Error).message.split("\n")[0]})`, { path });
    }
  };
}

function decodePng(bytes: Uint8Array, path: string): RgbaImage {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch {
    // pngjs' own words are unclear ("unrecognised content at end of stream", "waitng for …"): say what is known.
    fail("bad-data", `${path} is not a readable PNG image (corrupt or truncated data)`, { path });
  }
  // pngjs rounds 16-bit samples to 8 bits: say so rather than compute on pixels the file does not hold.
  if (png.depth === 16) fail("bad-data", `${path} is a 16-bit PNG; lesion reads 8-bit PNG and JPEG folders (give 16-bit images as a float32 npy in [0,1])`, { path });
  return { width: png.width, height: png.height, rgba: png.data };
}
