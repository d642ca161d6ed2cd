/**
 * isomorphic-git, imported on first use: a run's first requests (the cluster APIs, read while the
 * repositories are fetched) and the commands that reach no repository (validate, schema,
 * --version) do not wait for it (~0.1 s and ~7 MiB at start-up, bench/README.md).
 */
import type IsoGit from "isomorphic-git";

export type Git = typeof IsoGit;

let loaded: Promise<Git> | undefined;

export function isoGit(): Promise<Git> {
  loaded ??= import("isomorphic-git").then((m) => m.default);
  return loaded;
}
