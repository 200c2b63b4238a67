/**
 * The working memory of lesion's WebAssembly kernels (pairRowsKernel.ts, hiddenLoss.ts): arrays at byte offsets in
 * the module's one memory, each 16-byte aligned for v128 loads, in an instance whose memory is grown to hold them.
 */

const PAGE = 65536;

/** Byte offsets of arrays of the given sizes (bytes), placed in order, each 16-byte aligned; `end` the bytes spanned. */
export function placeArrays<K extends string>(bytes: Record<K, number>): { at: Record<K, number>; end: number } {
  let end = 0;
  const at = {} as Record<K, number>;
  for (const key of Object.keys(bytes) as K[]) {
    at[key] = end;
    end = Math.ceil((end + bytes[key]) / 16) * 16;
  }
  return { at, end };
}

/**
 * A new instance of `module` with its exported memory grown to at least `end` bytes, and that memory's buffer: views
 * are made on it after growing (growing detaches the buffer of views made before).
 */
export function instanceWithMemory(module: WebAssembly.Module, imports: WebAssembly.Imports, end: number): { exports: WebAssembly.Exports; buffer: ArrayBuffer } {
  const instance = new WebAssembly.Instance(module, imports);
  const memory = instance.exports.memory as WebAssembly.Memory;
  const pages = Math.ceil(end / PAGE) - memory.buffer.byteLength / PAGE;
  if (pages > 0) memory.grow(pages);
  return { exports: instance.exports, buffer: memory.buffer };
}
