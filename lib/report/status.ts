/** `fluxfleet status`: the fleet in one table (failing clusters first), and the same as JSON. */
import type { ClusterStatus } from "../kube/status.ts";
import { FORMAT_VERSION } from "./json.ts";

export type Health =
  | "unreachable"
  | "failing"
  | "degraded"
  | "not installed"
  | "suspended"
  | "progressing"
  | "ready";

export interface StatusRow extends ClusterStatus {
  /** The cluster's wave in the manifest's rollout ("2 (50%)"), when it has one. */
  wave?: string;
  health: Health;
  /** What is wrong (or "Ready"), one line. */
  summary: string;
}

function oneLine(s: string, max = 100): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** How the cluster is, in one word and one line; the first problem found wins. */
export function healthOf(s: ClusterStatus): { health: Health; summary: string } {
  if (s.error) return { health: "unreachable", summary: `unreachable: ${oneLine(s.error)}` };
  if (!s.installed) return { health: "not installed", summary: "Flux is not installed" };
  const ks = s.kustomization;
  const src = s.source;
  if (ks?.suspended || src?.suspended) {
    return {
      health: "suspended",
      summary: `Suspended (${ks?.suspended ? "Kustomization" : "GitRepository"})`,
    };
  }
  for (const [what, o] of [["GitRepository", src], ["Kustomization", ks]] as const) {
    if (!o) return { health: "failing", summary: `no ${what} flux-system` };
    if (o.ready === "False") {
      return {
        health: "failing",
        summary: `${what} ${o.reason ?? "not Ready"}: ${oneLine(o.message ?? "")}`,
      };
    }
  }
  const down = s.controllers.filter((c) => !c.available);
  if (down.length > 0) {
    return {
      health: "degraded",
      summary: down.map((c) =>
        `${c.name} unavailable${c.message ? `: ${oneLine(c.message, 60)}` : ""}`
      )
        .join("; "),
    };
  }
  for (const [what, o] of [["GitRepository", src!], ["Kustomization", ks!]] as const) {
    if (o.ready !== "True") {
      return {
        health: "progressing",
        summary: `${what} ${o.reason ?? "reconciling"}: ${oneLine(o.message ?? "")}`,
      };
    }
  }
  return { health: "ready", summary: "Ready" };
}

/** Rows sorted failing first (unreachable, failing, degraded, …), then in manifest order. */
export function statusRows(statuses: ClusterStatus[], waves: Map<string, string>): StatusRow[] {
  const order: Health[] = [
    "unreachable",
    "failing",
    "degraded",
    "not installed",
    "suspended",
    "progressing",
    "ready",
  ];
  return statuses
    .map((s, i) => ({
      row: {
        ...s,
        ...(waves.has(s.cluster) ? { wave: waves.get(s.cluster) } : {}),
        ...healthOf(s),
      },
      i,
    }))
    .sort((a, b) => order.indexOf(a.row.health) - order.indexOf(b.row.health) || a.i - b.i)
    .map(({ row }) => row);
}

/** "3m", "2h", "5d": how long ago `iso` was. */
export function age(iso: string | undefined, now: number): string {
  if (!iso) return "-";
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return "-";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function shortRevision(rev: string | undefined): string {
  if (!rev) return "-";
  const m = /^(.*)@sha1:([0-9a-f]+)$/.exec(rev);
  return m ? `${m[1]}@${m[2].slice(0, 7)}` : rev;
}

function credentialsText(c: ClusterStatus["credentials"], now: number): string {
  if (!c) return "-";
  if (c.kind === "ssh") return `ssh ${c.fingerprint ?? "(no public key)"}`;
  return `${c.kind} (secret ${age(c.created, now)} old)`;
}

function releases(s: StatusRow): string {
  const found = [...new Set(s.controllers.map((c) => c.release ?? "?"))];
  return found.length === 0 ? "-" : found.join("+");
}

function controllersText(s: StatusRow): string {
  if (s.controllers.length === 0) return "-";
  return s.controllers.map((c) =>
    `${c.name.replace(/-controller$/, "")} ${c.version}${c.available ? "" : "!"}`
  )
    .join(", ");
}

export function renderStatusTable(rows: StatusRow[], now: number): string {
  const header = [
    "CLUSTER",
    "WAVE",
    "FLUX",
    "CONTROLLERS",
    "REVISION",
    "AGE",
    "STATUS",
    "CREDENTIALS",
  ];
  const cells = rows.map((r) => [
    r.cluster,
    r.wave ?? "-",
    releases(r),
    controllersText(r),
    shortRevision(r.source?.revision),
    age(r.source?.since, now),
    r.summary,
    credentialsText(r.credentials, now),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]))).join("  ").trimEnd();
  const bad = rows.filter((r) => r.health !== "ready").length;
  return `${[line(header), ...cells.map(line)].join("\n")}\n\n${rows.length} clusters: ${
    rows.length - bad
  } ready, ${bad} need attention\n`;
}

export function statusDocument(manifest: string, rows: StatusRow[]) {
  return { formatVersion: FORMAT_VERSION, kind: "fluxfleet.status", manifest, clusters: rows };
}
