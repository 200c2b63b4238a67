/**
 * One progress display for a whole study. On a TTY a single status line, rewritten in place:
 * `[5/8] characterize · ablate fc1 [████░░░░] 45% 123/270 ETA 3s`; a phase without a measure of progress (total 0,
 * the stimulus map) shows a spinner and its elapsed time instead of a bar. Each finished step leaves one permanent
 * line (`✓ [5/8] characterize 12.3 s`, or `· [2/8] record reused`), and `stop` clears the status line, so nothing
 * stale stays on screen and the lines printed after it are intact. Without a TTY, the permanent lines
 * (`lesion: step 5/8 characterize done in 12.3 s`), one per step, and inside a long step a line every 30 s
 * (`lesion: step 3/8 singles: ablate conv2 120/256 (46 %)`): logs stay readable and show that the run moves.
 */
import type { Progress, StudyStep } from "../progress.js";

export interface StudyProgressOptions {
  /** Where to draw. Default process.stderr. */
  stream?: { write: (text: string) => unknown; isTTY?: boolean; columns?: number };
  /** Clock in milliseconds, for ETA and elapsed time. Default performance.now. */
  now?: () => number;
  /** Redraw period of the spinner in ms; 0 disables the timer (tests). Default 100. */
  tick?: number;
  /** Without a TTY, the period of the progress lines written inside a step, in ms. Default 30,000. */
  lineEvery?: number;
}

export interface StudyProgress {
  onProgress: (event: Progress) => void;
  onStep: (event: StudyStep) => void;
  stop: () => void;
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
const WIDTH = 24;

/** The display: feed it the study's `onProgress` and `onStep` events; call `stop` before printing the result. */
export function studyProgress(options: StudyProgressOptions = {}): StudyProgress {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  let step: StudyStep | null = null;
  let phase: { label: string; started: number; done: number; total: number } | null = null;
  let frame = 0;
  let shown = false;
  let timer: ReturnType<typeof setInterval> | null = null;
  let drawn = -Infinity;
  const lineEvery = options.lineEvery ?? 30_000;
  let lineAt: number | null = null;

  const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : ms < 3_600_000 ? `${Math.round(ms / 1000)}s` : `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`);
  const clear = () => {
    if (shown) stream.write("\r\x1b[2K");
    shown = false;
  };
  const status = (): string => {
    const head = step ? `[${step.index}/${step.total}] ${step.name}` : "";
    if (!phase) return head;
    const body = `${head ? `${head} · ` : ""}${phase.label}`;
    const elapsed = now() - phase.started;
    if (phase.total <= 0) return `${body} ${SPINNER[frame % SPINNER.length]} ${seconds(elapsed)}`;
    const fraction = Math.min(1, phase.done / phase.total);
    const filled = Math.round(fraction * WIDTH);
    const eta = phase.done > 0 && fraction < 1 ? ` ETA ${seconds((elapsed / phase.done) * (phase.total - phase.done))}` : "";
    return `${body} [${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}] ${Math.floor(fraction * 100)}% ${phase.done}/${phase.total}${eta}`;
  };
  const draw = () => {
    if (!tty) return;
    const text = status();
    const columns = stream.columns ?? 120;
    stream.write(`\r\x1b[2K${text.length > columns - 1 ? text.slice(0, columns - 1) : text}`);
    shown = text.length > 0;
  };
  const line = (text: string) => {
    clear();
    stream.write(`${text}\n`);
    draw();
  };
  const startTimer = () => {
    if (!tty || timer || options.tick === 0) return;
    timer = setInterval(() => {
      frame++;
      draw();
    }, options.tick ?? 100);
    timer.unref?.();
  };
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };

  return {
    onProgress(event) {
      // A step picking up a killed run's conditions says so once (its step line shows no resume otherwise).
      if (event.phase === "resume") {
        const where = step ? `step ${step.index}/${step.total} ${step.name}: ` : "";
        const what = `${event.done} of ${event.total} ${step?.name === "recover" ? "epochs" : "conditions"} done before`;
        line(tty ? `  ${where}resuming: ${what}` : `lesion: ${where}resuming: ${what}`);
        return;
      }
      const label = event.detail ? `${event.phase} ${event.detail}` : event.phase;
      const fresh = !phase || phase.label !== label || event.done < phase.done;
      if (fresh) phase = { label, started: now(), done: event.done, total: event.total };
      else (phase!.done = event.done), (phase!.total = event.total);
      if (phase!.total <= 0) startTimer();
      else stopTimer();
      // Redraw at most every 100 ms (a training step can report a thousand times a second), always on a new phase and at its end.
      const t = now();
      if (fresh || event.done >= event.total || t - drawn >= 100) (drawn = t), draw();
      // Without a TTY a long step writes a line every lineEvery ms, as one command does: a CNN's 3.6-minute singles step
      // was silent in a log and looked hung.
      if (!tty && phase!.total > 0) {
        if (lineAt === null) lineAt = t + lineEvery;
        else if (t >= lineAt) {
          lineAt = t + lineEvery;
          const where = step ? `step ${step.index}/${step.total} ${step.name}: ` : "";
          stream.write(`lesion: ${where}${phase!.label} ${phase!.done}/${phase!.total} (${Math.floor((100 * phase!.done) / phase!.total)} %)\n`);
        }
      }
    },
    onStep(event) {
      step = event.state === "start" ? event : null;
      lineAt = null;
      phase = null;
      stopTimer();
      const where = `[${event.index}/${event.total}] ${event.name}`;
      if (event.state === "done") line(tty ? `✓ ${where} ${(event.seconds ?? 0).toFixed(1)} s` : `lesion: step ${event.index}/${event.total} ${event.name} done in ${(event.seconds ?? 0).toFixed(1)} s`);
      else if (event.state === "reused") line(tty ? `· ${where} reused` : `lesion: step ${event.index}/${event.total} ${event.name} reused`);
      else draw();
    },
    stop() {
      stopTimer();
      clear();
      step = null;
      phase = null;
    },
  };
}
