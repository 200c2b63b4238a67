/** A PyTorch state_dict as lesion holds it: named tensors in the checkpoint's key order. */

export type TensorDtype = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

/** One tensor of a state_dict, its values in `data`. */
export interface StateTensor {
  /** The state_dict key, e.g. `fc1.weight`. */
  name: string;
  /** The dtype in the checkpoint; float16/bfloat16 values are widened to float32 in `data`, int64 to float64. */
  dtype: TensorDtype;
  /** The tensor's shape (PyTorch's `size()`); [] for a scalar. */
  shape: number[];
  /** Values in row-major order (contiguous whatever the strides in the file). */
  data: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

/** Key order matters: an MLP is built from its linear layers in this order. */
export type StateDict = StateTensor[];

/** A checkpoint's state_dict and where it was found (`readStateDict`). */
export interface StateDictSource {
  /** The tensors of the dict taken, keys without `strippedPrefix`, in key order. */
  tensors: StateDict;
  /** Keys leading to the dict taken: [] for the top level (a bare state_dict, a .safetensors file), ["state_dict"], … */
  path: string[];
  /** The prefix removed from every key (`module.` of DataParallel, `_orig_mod.` of torch.compile), or null. */
  strippedPrefix: string | null;
  /** One line for people: which dict was taken and how many tensors it held, e.g. "took checkpoint['state_dict']: 4 tensors". */
  note: string;
}
