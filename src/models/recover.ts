/**
 * Recovery (Meyes et al. 2019): ablate units, retrain the damaged network, and watch how much of the loss comes back,
 * class by class. Held (default): the ablated units are masked to zero during training and pass no gradient, and in
 * the saved model their incoming weights and bias are zero (for ReLU and Tanh units that is an output of exactly
 * zero). A network with BatchNorm trains in PyTorch's training mode (batch statistics, running statistics updated,
 * γ and β learnt) and is evaluated with the running statistics; the mask sits on the site's output (after BatchNorm
 * and activation), and the saved model also zeroes the held units' γ and β, so they output exactly zero. At a residual
 * block's output (ReLU after the join) no layer's weights alone zero a unit (the shortcut adds its input): the saved
 * model pins the unit's channel of the join's BatchNorm (γ = 0, β = −1e30), or Linear/Conv (weights 0, bias −1e30),
 * so the join is below −1e30 + its other input and the ReLU gives exactly zero. Free (`free: true`): the units
 * start from fresh incoming weights and bias (PyTorch's initialisation, seeded by `seed`; a BatchNorm's γ = 1, β = 0)
 * and learn again; at zero a ReLU unit would get no gradient and stay silent.
 * Recovered fraction per class = (accuracy after − accuracy ablated) / (accuracy intact − accuracy ablated), null for a
 * class the ablation did not hurt.
 * Control (`control: true`): the intact network retrained with the same budget (epochs, optimizer, seed, batches), so
 * a recovery can be read against what the extra training alone gives (a "recovered 112 %" may be mostly that).
 */
import { rmSync } from "node:fs";
import { dataIdentity, type DataIdentity } from "../data/dataIdentity.js";
import { sharedSamplesWarning } from "../data/sharedSamples.js";
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { checkData } from "../engine/forward.js";
import { checkUnits, resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { classNames } from "../engine/evaluate.js";
import { checkLearningRate, checkMomentum, evaluateNetwork, trainNetwork, type EpochResult, type NetworkScore } from "../engine/train.js";
import type { Network } from "../onnx/network.js";
import type { Progress } from "../progress.js";
import { decodeModel, encodeModel, setMetadataValue } from "../onnx/proto.js";
import { writeFileAtomic } from "../files.js";
import { decodeValues, encodeValues, readEpochState } from "./epochState.js";
import { pinChannels, recoverableSite, reinitIncoming, zeroIncoming } from "./recoverSite.js";
import { classifierBytes, networkInputs } from "./train.js";

/** Options of `recover` (`lesion recover`'s flags). */
export interface RecoverOptions {
  /** The site whose units are ablated: the output of a trainable layer (or a residual block's output, held only). */
  site: string;
  /** The ablated units (at least one). */
  units: number[];
  /** Data the network is evaluated on after every epoch (its test set). */
  test: Dataset;
  /** Default 3. */
  epochs?: number;
  /** Let the ablated units learn again, from fresh weights (PyTorch's initialisation, seeded by `seed`). Default false (held at zero). */
  free?: boolean;
  /** Also retrain the intact network with the same budget, as the control. Default false. */
  control?: boolean;
  /** Default "sgd". */
  optimizer?: "sgd" | "adam";
  /**
   * Default 0.01 for SGD, 0.001 for Adam; a tenth of that for a residual network without BatchNorm (an exported or
   * imported ResNet, whose BatchNorm is folded into its convs: at 0.01 one diverged in lesion and in PyTorch alike).
   */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 128. */
  batchSize?: number;
  /** Default 0. */
  seed?: number;
  /** onnxruntime intra-op threads of the training and evaluation sessions. Default: every core. */
  threads?: number;
  /**
   * A file where the state after every epoch is saved (the recovery's and the control's parameters, optimizer state and
   * history); a rerun with the same model, data, site, units and settings resumes from it (a `resume` progress event
   * says so: `done` of `total` epochs, the control's included, `detail` the path), and any other run is refused with
   * `resume-mismatch`. Removed once the run ends, unless `keepEpochState`. Default: none (nothing saved).
   */
  epochState?: string;
  /** Leave the epoch state in place at the end (a result directory removes it once its summary is written). Default false. */
  keepEpochState?: boolean;
  /** Called after every epoch of the recovery, then of the control, with its figures (`trainLoss`, `testAccuracy`, fractions 0..1). */
  onEpoch?: (run: "recovery" | "control", epoch: EpochResult) => void;
  /** Progress events, phase "recover": `done` of `total` optimisation steps (the control's included); phase "resume" (see `epochState`). */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** One epoch of the control (the intact network retrained): its figures on the test data, as RecoveryEpoch's. */
export interface ControlEpoch {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's steps (nats). */
  trainLoss: number;
  /** Test accuracy after the epoch, a fraction 0..1. */
  accuracy: number;
  /** Per-class test accuracy [classes], fractions 0..1; null for a class without test samples. */
  perClass: Array<number | null>;
  /** Mean cross-entropy on the test data after the epoch (nats). */
  loss: number;
  /** Wall-clock seconds of the epoch, its test evaluation included. */
  seconds: number;
}

/** One retraining epoch: the training figures, and the test accuracy against the intact and ablated baselines. */
export interface RecoveryEpoch extends ControlEpoch {
  /** Fraction of the accuracy lost to the ablation that is back, overall and per class. */
  recovered: number | null;
  /**
   * Per class: (after − ablated) / (intact − ablated) accuracy; null where the ablation did not hurt the class (or it
   * has no test samples). 1 is full recovery; it can exceed 1 or fall below 0.
   */
  recoveredPerClass: Array<number | null>;
}

/** What `recover` measured, and the retrained model (Meyes et al. 2019's recovery). */
export interface RecoverResult {
  /** The model's name. */
  model: string;
  /** The site's name. */
  site: string;
  /** The ablated units, ascending. */
  units: number[];
  /** "held": the units stayed at zero while the rest retrained; "free": they learnt again from fresh weights. */
  mode: "held" | "free";
  /** The model's class names, else the test data's or else the training data's where they have names, else "0".."k−1": the order of every perClass array. */
  classNames: string[];
  /** The intact network on the test data: accuracy and per-class accuracy (fractions 0..1; null for an empty class), mean cross-entropy (nats). */
  intact: NetworkScore;
  /** The ablated network before retraining, on the test data, likewise. */
  ablated: NetworkScore;
  /** One entry per retraining epoch, in order. */
  epochs: RecoveryEpoch[];
  /** With `control`: the intact network retrained with the same budget, its test accuracy per epoch; else null. */
  control: ControlEpoch[] | null;
  /** The retrained network (ONNX with lesion's metadata). */
  retrained: Uint8Array;
  /** With `control`: the intact network retrained with the same budget (ONNX), whose accuracy `control` reports; else null. */
  controlModel: Uint8Array | null;
  /** How it retrained (the defaults filled in), to replay it: README "Recovery". */
  settings: { optimizer: "sgd" | "adam"; lr: number; momentum: number | null; batchSize: number; epochs: number; seed: number };
  /** Problems in the model worth a user's attention that do not stop the run (non-finite weights), as `evaluate`'s. */
  warnings: string[];
}

/**
 * What `recover` checks before any work, for a caller that must know before it starts (the command line, before it
 * claims an output directory whose previous run `--overwrite` would remove). Returns the site and the learning rate the
 * run takes (`lr`, else defaultLearningRate), which the command line's run identity holds.
 * @throws LesionError as `recover` does before training: `unknown-site`, `unit-out-of-range`, `bad-units`, `bad-option`
 * (a learning rate ≤ 0, an SGD momentum outside [0, 1)), `unsupported-op`, `shape-mismatch`, `bad-data`, `label-out-of-range`.
 */
export function checkRecover(model: LesionModel, data: Dataset, options: Pick<RecoverOptions, "site" | "units" | "lr" | "momentum" | "optimizer" | "test" | "free">): { site: Site; lr: number } {
  checkData(model, data);
  checkData(model, options.test);
  const site = resolveSite(model, options.site);
  checkUnits(site, options.units);
  checkLearningRate(options.lr);
  checkMomentum(options.optimizer, options.momentum);
  if (options.units.length === 0) fail("bad-units", "recover needs at least one unit to ablate");
  const { network } = recoverableSite(model, site.name, options.free ?? false);
  return { site, lr: options.lr ?? defaultLearningRate(network, options.optimizer ?? "sgd") };
}

/**
 * Recovery after ablation (Meyes et al. 2019): the network retrained on `data` with `units` of `site` held at zero
 * ("held") or released ("free"), measured on `options.test` after every epoch (accuracy and per-class accuracy,
 * fractions 0..1), with the intact and ablated baselines and, with `control`, the intact network retrained with the
 * same budget.
 * @throws LesionError `unknown-site` (a site not in the model, or not the output of a trainable layer);
 * `unit-out-of-range`; `bad-units` (no units); `unsupported-op` (layers lesion cannot train; a residual block's output
 * it cannot hold, see recoverableSite); `bad-option` (a learning rate ≤ 0; `free` at a residual block's output); `shape-mismatch` (images
 * of another shape than the model takes), `bad-data` (an image folder not matched to the model's classes),
 * `label-out-of-range` (a label beyond the model's classes); `bad-option` (training diverged: a non-finite loss);
 * `resume-mismatch` (an epoch state of another run, naming what differs; unreadable; or holding more epochs than asked
 * for); `unwritable-path` (the epoch state); `aborted` (options.signal).
 */
export async function recover(model: LesionModel, data: Dataset, options: RecoverOptions): Promise<RecoverResult> {
  const { site, lr } = checkRecover(model, data, options);
  const { network, values, layer, pin } = recoverableSite(model, site.name, options.free ?? false);
  const free = options.free ?? false;
  // What the result and the saved model's record name: each unit once, ascending.
  const units = [...new Set(options.units)].sort((a, b) => a - b);
  const masks = { [layer]: options.units };
  const optimizer = options.optimizer ?? "sgd";
  const train = networkInputs(data, model.preprocessing);
  const test = networkInputs(options.test, model.preprocessing);
  const k = model.numClasses;
  const intact = await evaluateNetwork(network, values, {}, test, k, options.threads);
  // Held units start with zero incoming weights too: their output is masked and they get no gradient, so this changes
  // nothing for finite weights, and a NaN or infinite weight cannot reach the network through mask·NaN.
  // Free units start from fresh weights: at zero a ReLU unit's gradient is 0 and it could never learn again, so
  // "free" gave the held result (a new-user trial found free and held models bit-identical).
  const start = free ? reinitIncoming(network, values, layer, options.units, options.seed ?? 0) : zeroIncoming(network, values, layer, options.units);
  const ablated = await evaluateNetwork(network, start, masks, test, k, options.threads);
  const batches = Math.ceil(data.n / (options.batchSize ?? 128));
  const epochs = options.epochs ?? 3;
  const control = options.control ?? false;
  // Adam has no momentum: recorded as null, not a 0.9 it never used.
  const settings = { optimizer, lr, momentum: optimizer === "sgd" ? options.momentum ?? 0.9 : null, batchSize: options.batchSize ?? 128, epochs, seed: options.seed ?? 0 };
  const { epochs: _epochs, ...shared } = settings;
  // The data's identities hash their content: computed only for a run that saves its state.
  const header: RecoveryState["header"] | null = options.epochState
    ? { model: model.sha256, site: site.name, units, mode: free ? "free" : "held", control, data: dataIdentity(data), test: dataIdentity(options.test), options: shared }
    : null;
  const saved: RecoveryState = (options.epochState ? readEpochState<RecoveryState>(options.epochState, header!, "a recovery", epochs, (s) => Math.max(s.recovery?.epoch ?? 0, s.control?.epoch ?? 0)) : null) ?? { header: header!, recovery: null, control: null };
  const done = (saved.recovery?.epoch ?? 0) + (saved.control?.epoch ?? 0);
  if (done > 0) options.onProgress?.({ phase: "resume", done, total: (control ? 2 : 1) * epochs, detail: options.epochState });
  const run = async (which: "recovery" | "control", parameters: Map<string, Float32Array>, held: Record<number, number[]>) => {
    const resumed = saved[which];
    const offset = ((which === "control" ? epochs : 0) + (resumed?.epoch ?? 0)) * batches;
    const history = resumed?.history ?? [];
    const trained = await trainNetwork(network, {
      ...settings,
      momentum: settings.momentum ?? 0,
      weightDecay: 0,
      betas: [0.9, 0.999],
      eps: 1e-8,
      masks: held,
      parameters: resumed ? decodeValues(resumed.parameters) : parameters,
      state: resumed ? decodeValues(resumed.state) : undefined,
      startEpoch: resumed?.epoch ?? 0,
      train,
      test,
      classes: k,
      threads: options.threads,
      signal: options.signal,
      onStep: (step) => options.onProgress?.({ phase: "recover", done: offset + step, total: (control ? 2 : 1) * epochs * batches }),
      onEpoch: (epoch, values, state) => {
        history.push(epoch);
        if (options.epochState) {
          saved[which] = { epoch: epoch.epoch, history, parameters: encodeValues(values), state: encodeValues(state) };
          writeFileAtomic(options.epochState, JSON.stringify(saved));
        }
        options.onEpoch?.(which, epoch);
      },
    });
    return { parameters: trained.parameters, history };
  };
  const trained = await run("recovery", start, free ? {} : masks);
  const controlRun = control ? await run("control", values, {}) : null;
  if (options.epochState && !options.keepEpochState) rmSync(options.epochState, { force: true });
  const fraction = (after: number | null, before: number | null, full: number | null) =>
    after === null || before === null || full === null || full - before <= 0 ? null : (after - before) / (full - before);
  const final = free ? trained.parameters : pin !== null ? pinChannels(network, trained.parameters, pin, options.units) : zeroIncoming(network, trained.parameters, layer, options.units);
  return {
    model: model.name,
    site: site.name,
    units,
    mode: free ? "free" : "held",
    classNames: recoveryClassNames(model, data, options.test),
    intact,
    ablated,
    epochs: trained.history.map((e) => ({
      ...tested(e),
      recovered: fraction(e.testAccuracy, ablated.accuracy, intact.accuracy),
      recoveredPerClass: e.testPerClass!.map((p, c) => fraction(p, ablated.perClass[c], intact.perClass[c])),
    })),
    control: controlRun ? controlRun.history.map(tested) : null,
    settings,
    retrained: withRecoveryRecord(classifierBytes(network, final, model.preprocessing, model.classNames), { site: site.name, units, mode: free ? "free" : "held", from: model.sha256 }),
    controlModel: controlRun ? classifierBytes(network, controlRun.parameters, model.preprocessing, model.classNames) : null,
    warnings: [...model.warnings, ...sameDataWarning(data, options.test), ...worseWarning(trained.history, ablated.accuracy, controlRun?.history ?? null, intact.accuracy, lr), ...wholeSiteWarning(site, units, free)],
  };
}

/**
 * The names of the per-class figures: the model's, else those of the data that carries names of its own (the test data
 * first, whose classes they are; numbered `.npy` training images beside a named test set had made a study's recovery
 * columns `accuracy_0` where its other steps said `accuracy_airplane`), else numbers.
 */
function recoveryClassNames(model: LesionModel, data: Dataset, test: Dataset): string[] {
  const named = (d: Dataset) => d.classNames.length === model.numClasses && d.classNames.some((c, i) => c !== String(i));
  return named(test) ? classNames(model, test) : classNames(model, data);
}

/** A training epoch's figures in recover's terms (every epoch here is tested). */
function tested(e: EpochResult): ControlEpoch {
  return { epoch: e.epoch, trainLoss: e.trainLoss, accuracy: e.testAccuracy!, perClass: e.testPerClass!, loss: e.testLoss!, seconds: e.seconds };
}

/** One retraining run's state after its last finished epoch (recover's epoch state). */
interface SavedRun {
  epoch: number;
  history: EpochResult[];
  parameters: Record<string, string>;
  state: Record<string, string>;
}

/** What `recover` saves after every epoch (`epochState`): the recovery's and the control's runs so far. */
interface RecoveryState {
  /**
   * What a resumed run must share (more epochs may be asked for): the model's SHA-256, site, units, mode, whether a
   * control runs, the training and test data's identities, and the optimisation settings.
   */
  header: { model: string; site: string; units: number[]; mode: "held" | "free"; control: boolean; data: DataIdentity; test: DataIdentity; options: Omit<RecoverResult["settings"], "epochs"> };
  recovery: SavedRun | null;
  control: SavedRun | null;
}

/**
 * Retraining that ends more than 5 pp below where it started (the ablated network; the control, the intact one) took
 * steps too large for the network: a ResNet whose BatchNorm the exporter folded into its convs collapsed to 10–18 % at
 * SGD lr 0.01 in lesion and in PyTorch alike, and retrained at 0.001 (now its default: defaultLearningRate).
 */
function worseWarning(history: Array<{ testAccuracy: number | null }>, ablated: number, control: Array<{ testAccuracy: number | null }> | null, intact: number, lr: number): string[] {
  const last = (h: Array<{ testAccuracy: number | null }>) => h[h.length - 1]?.testAccuracy ?? null;
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const worse = (after: number | null, before: number) => after !== null && after < before - 0.05;
  const parts = [
    ...(worse(last(history), ablated) ? [`the retrained network ends at ${pct(last(history)!)} against ${pct(ablated)} ablated`] : []),
    ...(control && worse(last(control), intact) ? [`the control at ${pct(last(control)!)} against ${pct(intact)} intact`] : []),
  ];
  return parts.length === 0 ? [] : [`retraining made the network worse (${parts.join("; ")}): the steps are likely too large for it; give a smaller \`lr\` (${lr} now)`];
}

/** PyTorch's usual step per optimizer. */
export const USUAL_LEARNING_RATE = { sgd: 0.01, adam: 0.001 } as const;

/** PyTorch's usual step (USUAL_LEARNING_RATE), a tenth of it for a residual network without BatchNorm. */
export function defaultLearningRate(network: Network, optimizer: "sgd" | "adam"): number {
  const folded = network.layers.some((l) => l.op === "add") && !network.layers.some((l) => l.op === "batchnorm");
  return USUAL_LEARNING_RATE[optimizer] * (folded ? 0.1 : 1);
}

/**
 * A recovery measured on images it retrains on says so: `--data cifar10:test` with the default test set, or a slice
 * of the test split (`mnist:test[:1000]`) tested on the whole split.
 */
function sameDataWarning(data: Dataset, test: Dataset): string[] {
  const same = data.n === test.n && dataIdentity(data).sha256 === dataIdentity(test).sha256;
  const said = { same: "recovery is measured on the images the network retrains on", partly: "recovery is partly measured on images the network retrains on", option: "`test`" };
  const warning = same ? sharedSamplesWarning(test, test, said) : sharedSamplesWarning(data, test, said);
  return warning ? [warning] : [];
}

/** The metadata key of a retrained model's record: which units of which site were held or freed, from which model. */
export const RECOVER_KEY = "lesion.recover";

/** The model bytes with what the recovery did recorded in their metadata (`lesion.recover`, JSON). */
function withRecoveryRecord(bytes: Uint8Array, record: { site: string; units: number[]; mode: "held" | "free"; from: string }): Uint8Array {
  const proto = decodeModel(bytes);
  setMetadataValue(proto, RECOVER_KEY, JSON.stringify(record));
  return encodeModel(proto);
}

/**
 * Every unit of the site (`units`: distinct) held at zero: the site's output is constant, so no information passes it and what the
 * retraining brings back is only what the layers after it learn to guess (a trial's "recovered 1.86 %" of fc1's 100
 * units, without a word).
 */
function wholeSiteWarning(site: { name: string; units: number }, units: readonly number[], free: boolean): string[] {
  if (free || units.length < site.units) return [];
  return [`every unit of ${site.name} (${site.units}) is held at zero: nothing passes the site, so retraining can only fit the layers after it to a constant input`];
}
