/**
 * PyTorch state_dicts without Python: `torch.save` zip archives (PyTorch ≥ 1.6), the legacy format (a sequence of
 * pickles followed by raw storages), and `.safetensors`. Storages saved on a GPU (`cuda:0`) load like CPU ones: only
 * the bytes are read. The pickles go through lesion's own reader (./pickle.ts), which runs no code.
 */
import { unzipSync } from "fflate";
import { fail, isLesionError } from "../../errors.js";
import { isKind, unpickle, type PyDict, type PyGlobal, type PyObject, type PyTuple, type PyValue } from "./pickle.js";
import { isTorchScriptEntry } from "../../onnx/checkpointFormat.js";
import { buildNumpy, numpyGlobals } from "./numpy.js";
import { buildPlain, plainGlobals } from "./plainGlobals.js";
import type { StateDict, StateDictSource, StateTensor, TensorDtype } from "./types.js";
import { halfToFloat } from "../../onnx/tensorData.js";

interface Storage {
  dtype: TensorDtype;
  key: string;
  /** Bytes, once located; element count from the persistent id. */
  bytes: Uint8Array | null;
  numel: number;
}

interface TensorRef {
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}

const STORAGE_TYPES: Record<string, TensorDtype> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

const DTYPE_SIZE: Record<TensorDtype, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };

const SAFETENSORS_DTYPES: Record<string, TensorDtype> = { F32: "float32", F64: "float64", F16: "float16", BF16: "bfloat16", I64: "int64", I32: "int32", I16: "int16", I8: "int8", U8: "uint8", BOOL: "bool" };

/** The legacy format's first pickle: this magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * Reads the weights of a PyTorch checkpoint: a `torch.save` zip archive, a legacy `torch.save` file or a `.safetensors`
 * file. Shorthand for `readStateDict(bytes, name).tensors`; see there.
 * @throws LesionError `bad-checkpoint` (not a checkpoint, truncated, no dict of tensors, an unreadable dtype);
 * `unsafe-pickle` (a pickle that names a function or class beyond tensors, plain containers and numpy data).
 */
export function readCheckpoint(bytes: Uint8Array, name: string): StateDict {
  return readStateDict(bytes, name).tensors;
}

/**
 * Reads a PyTorch checkpoint's state_dict and says where it was found. The checkpoint may be a bare state_dict or a
 * training script's dict with the weights under a usual key (`state_dict`, `model_state_dict`, `model`, …) beside
 * metrics, epochs and optimizer state; numpy scalars and arrays among them are read as data. A prefix that a wrapper
 * added to every key (`module.` of DataParallel, `_orig_mod.` of torch.compile) is removed, so sites are named as in
 * the unwrapped network. `name` is used in messages only.
 *
 * Throws `bad-checkpoint` (not a checkpoint, truncated, no dict of tensors, an unreadable dtype) and `unsafe-pickle`
 * (the pickle names a function or class beyond tensors, plain containers and numpy data: never run).
 */
export function readStateDict(bytes: Uint8Array, name: string): StateDictSource {
  try {
    if (bytes[0] === 0x50 && bytes[1] === 0x4b) return readZip(bytes, name);
    if (bytes[0] === 0x80) return readLegacy(bytes, name);
    if (bytes.length >= 10 && bytes[8] === 0x7b) return readSafetensors(bytes, name);
    fail("bad-checkpoint", `${name} is not a PyTorch checkpoint: expected a torch.save zip archive, a legacy torch.save pickle or a .safetensors file`, { name });
  } catch (error) {
    if (isLesionError(error)) throw error;
    fail("bad-checkpoint", `${name}: truncated or corrupt checkpoint (${(error as Error).message})`, { name });
  }
}

/**
 * The globals a checkpoint's pickle may name, and the plain value each call builds: torch's tensor and storage
 * rebuilders, OrderedDict, torch.Size, `_codecs.encode` (bytes at protocol 2), numpy's scalars, dtypes and arrays
 * (./numpy.ts), and argparse namespaces, paths, sets, devices and dtypes (./plainGlobals.ts). Anything else is
 * refused by the reader.
 */
export function allowedGlobals(): Map<string, (args: PyValue[]) => PyValue> {
  const rebuild = (args: PyValue[]): PyValue => {
    const [storage, offset, size, stride] = args;
    if (!isKind(storage, "object") || (storage as PyObject).type !== "storage") throw new Error("a tensor without a storage");
    const ref: TensorRef = { storage: (storage as PyObject).value as Storage, offset: Number(offset), shape: ints(size), stride: ints(stride) };
    return { kind: "object", type: "tensor", value: ref };
  };
  const globals = new Map<string, (args: PyValue[]) => PyValue>([
    ["collections.OrderedDict", () => ({ kind: "dict", entries: [] })],
    ["torch._utils._rebuild_tensor_v2", rebuild],
    ["torch._utils._rebuild_tensor", rebuild],
    ["torch._utils._rebuild_parameter", (args) => args[0]],
    ["torch._utils._rebuild_parameter_with_state", (args) => args[0]],
    ["torch.Size", (args) => args[0] ?? { kind: "tuple", items: [] }],
    // Python 3 bytes pickled at protocol 2: _codecs.encode(text, "latin1").
    ["_codecs.encode", (args) => Uint8Array.from(String(args[0]), (c) => c.charCodeAt(0) & 0xff)],
  ]);
  // Storage types appear only as the type field of a persistent id; they are never called.
  for (const type of Object.keys(STORAGE_TYPES)) globals.set(`torch.${type}`, () => ({ kind: "object", type: "storage-type", value: type }));
  // numpy scalars, dtypes and arrays beside the weights (metrics, epochs, class counts) are plain data, and so are
  // the command-line arguments, paths, sets and devices scripts save with them.
  for (const [name, handler] of [...numpyGlobals(), ...plainGlobals()]) globals.set(name, handler);
  return globals;
}

/** BUILD for the objects allowedGlobals makes: numpy dtypes and arrays, argparse namespaces. */
export function buildObject(target: PyValue, state: PyValue): void {
  if (!buildNumpy(target, state)) buildPlain(target, state);
}

/** ('storage', storage_type, key, location, numel[, view_metadata]) → the Storage it names (shared by key). */
function storageLoader(storages: Map<string, Storage>): (pid: PyValue) => PyValue {
  return (pid) => {
    if (!isKind(pid, "tuple")) throw new Error("a persistent id that is not a tuple");
    const [tag, type, key, , numel] = (pid as PyTuple).items;
    if (tag !== "storage" || !isKind(type, "global")) throw new Error(`an unknown persistent id '${String(tag)}'`);
    const typeName = (type as PyGlobal).name.replace(/^torch\./, "");
    const id = String(key);
    let storage = storages.get(id);
    if (!storage) {
      storage = { dtype: STORAGE_TYPES[typeName], key: id, bytes: null, numel: Number(numel) };
      storages.set(id, storage);
    }
    return { kind: "object", type: "storage", value: storage };
  };
}

function readZip(bytes: Uint8Array, name: string): StateDictSource {
  const files = unzipSync(bytes);
  const pickleName = Object.keys(files).find((f) => f.endsWith("/data.pkl") || f === "data.pkl");
  if (!pickleName) fail("bad-checkpoint", `${name} is a zip archive without data.pkl; not a torch.save checkpoint`, { name });
  if (Object.keys(files).some(isTorchScriptEntry)) {
    fail("bad-checkpoint", `${name} is a TorchScript archive (torch.jit.save): its weights belong to scripted modules, not a state_dict; export the network with torch.onnx.export, or save model.state_dict()`, { name });
  }
  const prefix = pickleName.slice(0, pickleName.length - "data.pkl".length);
  const order = files[`${prefix}byteorder`];
  if (order && new TextDecoder().decode(order).trim() === "big") fail("bad-checkpoint", `${name} was saved on a big-endian machine; lesion reads little-endian checkpoints`, { name });
  const storages = new Map<string, Storage>();
  const { value } = unpickle(files[pickleName], 0, { source: name, globals: allowedGlobals(), persistentLoad: storageLoader(storages), build: buildObject });
  for (const storage of storages.values()) {
    const data = files[`${prefix}data/${storage.key}`];
    if (!data) fail("bad-checkpoint", `${name}: storage ${storage.key} is missing from the archive`, { name });
    storage.bytes = data;
  }
  return stateDict(value, name);
}

function readLegacy(bytes: Uint8Array, name: string): StateDictSource {
  const storages = new Map<string, Storage>();
  const options = { source: name, globals: allowedGlobals(), persistentLoad: storageLoader(storages), build: buildObject };
  const magic = unpickle(bytes, 0, options);
  if (magic.value !== LEGACY_MAGIC) {
    fail("bad-checkpoint", `${name} is a pickle but not a torch.save checkpoint (no legacy magic number)`, { name });
  }
  const protocol = unpickle(bytes, magic.end, options);
  const sysInfo = unpickle(bytes, protocol.end, options);
  const main = unpickle(bytes, sysInfo.end, options);
  const keys = unpickle(bytes, main.end, options);
  if (!Array.isArray(keys.value)) throw new Error("no storage key list after the object");
  let at = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value) {
    const storage = storages.get(String(key));
    if (!storage) throw new Error(`storage ${String(key)} is listed but never used`);
    if (at + 8 > bytes.length) throw new Error(`storage ${storage.key} is cut off`);
    const count = Number(view.getBigInt64(at, true));
    at += 8;
    const length = count * DTYPE_SIZE[storage.dtype];
    if (at + length > bytes.length) throw new Error(`storage ${storage.key} needs ${length} bytes, the file has ${bytes.length - at} left`);
    storage.bytes = bytes.subarray(at, at + length);
    at += length;
  }
  return stateDict(main.value, name);
}

function readSafetensors(bytes: Uint8Array, name: string): StateDictSource {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error(`header of ${headerLength} bytes runs past the end`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const tensors: StateDict = [];
  const ranges: Array<[number, number, string]> = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") continue;
    const dtype = SAFETENSORS_DTYPES[entry.dtype];
    if (!dtype) fail("bad-checkpoint", `${name}: tensor ${key} has dtype ${entry.dtype}, which lesion does not read`, { name });
    const [from, to] = entry.data_offsets;
    if (base + to > bytes.length || to < from) throw new Error(`tensor ${key} lies outside the file`);
    const shape = entry.shape;
    const numel = shape.reduce((a, b) => a * b, 1);
    if ((to - from) !== numel * DTYPE_SIZE[dtype]) throw new Error(`tensor ${key} has ${to - from} bytes for ${numel} ${dtype} values`);
    const storage: Storage = { dtype, key, bytes: bytes.subarray(base + from, base + to), numel };
    tensors.push(materialise(key, { storage, offset: 0, shape, stride: contiguousStride(shape) }, name));
    ranges.push([from, to, key]);
  }
  // The format's tensors do not overlap: one lying inside another's bytes had loaded as wrong weights, silently.
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) if (ranges[i][0] < ranges[i - 1][1]) throw new Error(`tensors ${ranges[i - 1][2]} and ${ranges[i][2]} overlap in the data`);
  if (tensors.length === 0) fail("bad-checkpoint", `${name} is a safetensors file that holds no tensors`, { name });
  return withoutWrapperPrefix(tensors, []);
}

/**
 * The dict of tensors a checkpoint holds its weights in. Training scripts save a dict with the state_dict under one
 * key and bookkeeping beside it, some of it tensors (`best_acc1` in pytorch/examples' ImageNet script, a step
 * counter, class weights, an optimizer's momentum buffers); so the first dict holding a tensor is not enough. Every
 * dict that holds tensors under string keys is a candidate (optimizer and scheduler states are not: their keys say
 * so, and their per-parameter states sit under integer ids). The one under the most preferred key wins (the keys real
 * scripts use, in this order: see PREFERRED_KEYS), then the one with the most tensors, then the first.
 */
function stateDict(value: PyValue, name: string): StateDictSource {
  const candidates: Candidate[] = [];
  collectCandidates(value, [], candidates, new Set());
  if (candidates.length === 0) fail("bad-checkpoint", `${name} holds no state_dict (no dict of tensors found)`, { name });
  candidates.sort((a, b) => rank(a.path) - rank(b.path) || b.tensors.length - a.tensors.length || a.order - b.order);
  const { path, tensors: entries } = candidates[0];
  const tensors = entries.map(([key, ref]) => materialise(key, ref, name));
  return withoutWrapperPrefix(tensors, path);
}

/** Keys under which training scripts save their weights, most preferred first (torchvision's and DeiT's `model`,
 * PyTorch's tutorial `model_state_dict`, pytorch/examples' and timm's `state_dict`, …; EMA weights last). */
const PREFERRED_KEYS = ["state_dict", "model_state_dict", "model", "net", "network", "module", "model_state", "weights", "state_dict_ema", "model_ema", "ema", "ema_state_dict"];

/** Prefixes that wrappers add to every key: DataParallel/DistributedDataParallel, torch.compile. */
const WRAPPER_PREFIXES = ["module.", "_orig_mod."];

interface Candidate {
  path: string[];
  tensors: Array<[string, TensorRef]>;
  order: number;
}

function rank(path: string[]): number {
  const i = path.length === 0 ? -1 : PREFERRED_KEYS.indexOf(path[path.length - 1]);
  return i < 0 ? PREFERRED_KEYS.length : i;
}

function collectCandidates(value: PyValue, path: string[], out: Candidate[], seen: Set<unknown>): void {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value) || isKind(value, "tuple")) {
    const items = Array.isArray(value) ? value : (value as PyTuple).items;
    items.forEach((item, i) => collectCandidates(item, [...path, String(i)], out, seen));
    return;
  }
  if (!isKind(value, "dict")) return;
  const entries = (value as PyDict).entries.filter((entry): entry is [string, PyValue] => typeof entry[0] === "string");
  const isTensor = (v: PyValue) => isKind(v, "object") && (v as PyObject).type === "tensor";
  const tensors = entries.filter(([, v]) => isTensor(v)).map(([key, v]): [string, TensorRef] => [key, (v as PyObject).value as TensorRef]);
  // A dict comes before the dicts inside it (on a tie, the outer one is taken).
  if (tensors.length > 0) out.push({ path, tensors, order: out.length });
  for (const [key, v] of entries) {
    if (!isTensor(v) && !/optim|schedul/i.test(key)) collectCandidates(v, [...path, key], out, seen);
  }
}

/** Removes a prefix every key shares because a wrapper added it (`module.fc1.weight` → `fc1.weight`). */
function withoutWrapperPrefix(tensors: StateDict, path: string[]): StateDictSource {
  let stripped = "";
  for (;;) {
    const prefix = WRAPPER_PREFIXES.find((p) => tensors.every((t) => t.name.startsWith(p) && t.name.length > p.length));
    if (!prefix) break;
    stripped += prefix;
    for (const t of tensors) t.name = t.name.slice(prefix.length);
  }
  const where = path.length === 0 ? "the top-level dict" : `checkpoint${path.map((k) => `['${k}']`).join("")}`;
  const count = `${tensors.length} tensor${tensors.length === 1 ? "" : "s"}`;
  const note = `took ${where}: ${count}${stripped ? `, without the prefix '${stripped}' every key had` : ""}`;
  return { tensors, path, strippedPrefix: stripped || null, note };
}

function materialise(key: string, ref: TensorRef, name: string): StateTensor {
  const { storage, offset, shape, stride } = ref;
  if (!storage.dtype) fail("bad-checkpoint", `${name}: tensor ${key} has a storage type lesion does not read`, { name });
  if (!storage.bytes) fail("bad-checkpoint", `${name}: the data of tensor ${key} is missing`, { name });
  const numel = shape.reduce((a, b) => a * b, 1);
  const size = DTYPE_SIZE[storage.dtype];
  const available = storage.bytes.length / size;
  const values = decode(storage.bytes, storage.dtype, available);
  const out = storage.dtype === "float64" || storage.dtype === "int64" ? new Float64Array(numel) : outputArray(storage.dtype, numel);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < numel; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * stride[d];
    if (at >= available) fail("bad-checkpoint", `${name}: tensor ${key} reads past the end of its storage`, { name });
    out[i] = values[at];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return { name: key, dtype: storage.dtype, shape, data: out };
}

function outputArray(dtype: TensorDtype, n: number): StateTensor["data"] {
  switch (dtype) {
    case "int32":
      return new Int32Array(n);
    case "int16":
      return new Int16Array(n);
    case "int8":
      return new Int8Array(n);
    case "uint8":
    case "bool":
      return new Uint8Array(n);
    default:
      return new Float32Array(n);
  }
}

function decode(bytes: Uint8Array, dtype: TensorDtype, n: number): ArrayLike<number> {
  const copy = new Uint8Array(bytes.subarray(0, n * DTYPE_SIZE[dtype]));
  const buffer = copy.buffer;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer);
    case "float64":
      return new Float64Array(buffer);
    case "int64":
      return Float64Array.from(new BigInt64Array(buffer), Number);
    case "int32":
      return new Int32Array(buffer);
    case "int16":
      return new Int16Array(buffer);
    case "int8":
      return new Int8Array(buffer);
    case "uint8":
    case "bool":
      return copy;
    case "float16":
      return Float32Array.from(new Uint16Array(buffer), halfToFloat);
    case "bfloat16": {
      const widened = new Uint32Array(n);
      new Uint16Array(buffer).forEach((h, i) => (widened[i] = h << 16));
      return new Float32Array(widened.buffer);
    }
  }
}


function ints(value: PyValue): number[] {
  const items = isKind(value, "tuple") ? (value as PyTuple).items : Array.isArray(value) ? value : null;
  if (!items) throw new Error("a tensor size or stride that is not a tuple");
  return items.map(Number);
}

function contiguousStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d];
  }
  return stride;
}
