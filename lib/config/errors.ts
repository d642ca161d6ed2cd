/** Errors that point at a place in the manifest: file:line:column, cluster and field. */

export interface Location {
  file: string;
  line: number;
  col: number;
}

export interface ConfigProblem {
  location?: Location;
  /** The manifest file, for a problem with no place in it (an empty file, a directory). */
  file?: string;
  cluster?: string;
  /** Dotted field path inside the cluster (or from the top when no cluster), e.g. `git.auth.token`. */
  field?: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${describeField(p)}${p.cluster || p.field ? ": " : ""}${p.message}`;
}

/**
 * `file:line:col: cluster "dev": git.auth.token`: where a problem is, without the problem itself
 * (the prefix of messages about values read later, such as secrets).
 */
export function describeField(p: Omit<ConfigProblem, "message">): string {
  const where = p.location
    ? `${p.location.file}:${p.location.line}:${p.location.col}: `
    : p.file
    ? `${p.file}: `
    : "";
  const who = [p.cluster ? `cluster "${p.cluster}"` : "", p.field ?? ""].filter((s) => s !== "");
  return `${where}${who.join(": ")}`;
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
