/**
 * Progress events of long runs, keyed by phase; the library never prints, the CLI renders them. A phase with
 * `total` 0 has no measure of progress (the stimulus map's t-SNE): a display shows that it is working, without a bar.
 * Phase `resume`, sent once before any work: `done` of `total` conditions were read from the resume log `detail`
 * (`total` counts the conditions asked for and the single units a pair sweep needs, as the `ablate` phase does); from
 * `train` and `recover`, `done` of `total` epochs (recover's counting the control's) were read from the epoch state `detail`.
 */
export interface Progress {
  /** What is running: "evaluate", "record", "ablate", "resume", "train", "recover", "transplant", "stimulus map" or "explore". */
  phase: string;
  /** Units of work finished so far (samples, conditions, steps or iterations, as the phase counts them). */
  done: number;
  /** Units of work in the phase; 0 where progress has no measure. */
  total: number;
  /** What is being worked on, e.g. a site name. */
  detail?: string;
}

/** A step of a whole study (`study`): announced when it starts, and when it finished or was reused from disk. */
export interface StudyStep {
  /** The step's result directory name: eval, record, singles, pairs-<site>, characterize, fractions, recover. */
  name: string;
  /** 1-based position among `total` steps. */
  index: number;
  /** Number of steps in the study. */
  total: number;
  /** "start" as it begins; "done" when it finished; "reused" when a complete result of the same inputs was on disk. */
  state: "start" | "done" | "reused";
  /** Wall-clock seconds the step took (state "done"). */
  seconds?: number;
}
