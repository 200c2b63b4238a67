/** Progress events of long runs, keyed by phase; the library never prints, the CLI renders them. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  /** What is being worked on, e.g. a site name. */
  detail?: string;
}
