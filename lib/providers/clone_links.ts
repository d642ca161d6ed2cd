/**
 * The clone links a hosting API names must stay on the server the manifest names: fluxfleet
 * pushes to the HTTPS link with the token, and the cluster reads from the SSH link, so a link
 * elsewhere (a compromised or misconfigured server, or someone in the middle of an opted-in
 * plain-http API) would receive the token or serve the cluster's manifests. GitHub, Gitea and
 * GitLab all serve git over HTTPS on the origin of their web (and API) URL: the HTTPS link must
 * have exactly that origin — scheme, host and port (no other port, no downgrade to http://); the
 * SSH link must be ssh:// on that host unless `sshHostname` replaces host and port.
 */
import { ProviderError } from "./types.ts";

export interface CloneLinkHome {
  /** Where the repository lives: its links must be on this origin (the forge's web URL). */
  origin: string;
  /** How messages name the repository: "acme/fleet", "project fleet/apps". */
  repository: string;
  /** Who named the links: "the API", "GitLab". */
  namer: string;
  /** What to check or set when the links are refused. */
  hint: string;
  sshHostname?: string;
}

function refusal(home: CloneLinkHome, kind: string, link: string): ProviderError {
  const where = new URL(home.origin);
  return new ProviderError(
    `${home.namer} names ${link} as the ${kind} clone URL of ${home.repository}, not on ${
      kind === "SSH" ? where.hostname : where.origin
    } where the repository lives: nothing is sent there (${home.hint})`,
    { status: 0, transient: false },
  );
}

/** The HTTPS link fluxfleet pushes to with the token: the home's origin, exactly. */
export function checkHttpCloneLink(home: CloneLinkHome, httpUrl: string): void {
  let link: URL;
  try {
    link = new URL(httpUrl);
  } catch {
    throw refusal(home, "HTTPS", JSON.stringify(httpUrl));
  }
  // href: the whole link as parsed (control characters escaped), so the user sees where.
  if (link.origin !== new URL(home.origin).origin) throw refusal(home, "HTTPS", link.href);
}

/** The SSH link the cluster reads from: ssh:// on the home's host, unless sshHostname replaces it. */
export function checkSshCloneLink(home: CloneLinkHome, sshUrl: string): void {
  if (home.sshHostname) return;
  let link: URL;
  try {
    link = new URL(sshUrl);
  } catch {
    throw refusal(home, "SSH", JSON.stringify(sshUrl));
  }
  if (link.protocol !== "ssh:" || link.hostname !== new URL(home.origin).hostname) {
    throw refusal(home, "SSH", `${link.protocol}//${link.host}`);
  }
}
