/** Errors that point at a place in the manifest: file:line:column, cluster and field. */

export interface Location {
  file: string;
  line: number;
  col: number;
}

export interface ConfigProblem {
  location?: Location;
  cluster?: string;
  /** Dotted field path inside the cluster (or from the top when no cluster), e.g. `git.auth.token`. */
  field?: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.location ? `${p.location.file}:${p.location.line}:${p.location.col}: ` : "";
  const who = p.cluster ? `cluster "${p.cluster}": ` : "";
  const what = p.field ? `${p.field}: ` : "";
  return `${where}${who}${what}${p.message}`;
}

/** Thrown when a manifest does not validate; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}
