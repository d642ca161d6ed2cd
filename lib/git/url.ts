/**
 * Git remote URLs as fluxfleet accepts them — network URLs only — and one identity per
 * repository, however its URL is spelled. Pure.
 *
 * git reads a remote as (transport.c `transport_get`, connect.c `url_is_local_not_ssh`):
 * `<helper>::<address>` runs the remote helper `git-remote-<helper>` (`ext::` runs a shell
 * command, `fd::` talks over file descriptors); `file://` and anything without a `:` before the
 * first `/` is a local path; `scheme://…` is a URL; `[user@]host:path` is SSH (scp-like).
 * fluxfleet pushes with these URLs and the cluster reads from them, so only network forms are
 * accepted, whatever the transport.
 */

/** git's `is_urlschemechar`: a letter, then letters, digits, `+`, `-` and `.`, then `::`. */
const REMOTE_HELPER = /^([A-Za-z][A-Za-z0-9+.-]*)::/;
const URL_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** scp-like `[user@]host:path`, `[…]` for IPv6 hosts (as lib/git/ssh_url.ts parses it). */
const SCP_LIKE = /^(?:([^@/:\s]+)@)?(\[[^\]]+\]|[^/:\s[\]]+):(.*)$/s;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Why `url` is not a network git URL (a remote helper, a local path, control characters, an
 * option-like host), or undefined. Which network schemes an auth mode accepts is checked apart.
 */
export function nonNetworkUrlProblem(url: string): string | undefined {
  if (CONTROL.test(url)) {
    return "must not contain line breaks or other control characters";
  }
  if (url !== url.trim()) return "must not start or end with spaces";
  const helper = REMOTE_HELPER.exec(url);
  if (helper) {
    return `"${helper[1]}::" makes git run the remote helper git-remote-${
      helper[1]
    } instead of a network transport; use an https:// or ssh:// URL`;
  }
  const scheme = URL_FORM.exec(url)?.[1].toLowerCase();
  if (scheme === "file") {
    return "file:// is a repository on this machine; fluxfleet and the cluster need a network URL (https:// or ssh://)";
  }
  if (scheme === undefined && isLocalPath(url)) {
    return "is a local path; fluxfleet and the cluster need a network URL (https:// or ssh://)";
  }
  if (hostOf(url)?.startsWith("-")) {
    // git refuses such hosts (CVE-2017-1000117): ssh would read them as an option.
    return "the host must not start with '-'";
  }
  return undefined;
}

/** connect.c `url_is_local_not_ssh`: no ':' at all, a '/' before the first ':', or `C:\…`. */
function isLocalPath(url: string): boolean {
  const colon = url.indexOf(":");
  const slash = url.indexOf("/");
  if (colon < 0 || (slash >= 0 && slash < colon)) return true;
  return /^[A-Za-z]:[\\/]/.test(url);
}

function hostOf(url: string): string | undefined {
  if (URL_FORM.test(url)) {
    const authority = url.replace(URL_FORM, "").split(/[/?#]/, 1)[0];
    return authority.slice(authority.lastIndexOf("@") + 1);
  }
  return SCP_LIKE.exec(url)?.[2];
}

/**
 * The identity of the repository `url` names, for "is this the same repository": scheme and host
 * in lower case, the default port dropped, `git+ssh://`/`ssh+git://` and the scp-like
 * `user@host:path` read as `ssh://host/path`, a trailing `/` or `.git` dropped. The user is left
 * out: in an SSH URL it picks the account or key (an AWS CodeCommit SSH key ID, `git` on hosting
 * services), not the repository — two CodeCommit key IDs on one repository are one repository,
 * whose clusters share one commit and must not share a path. HTTPS and SSH URLs stay different
 * repositories (most servers use other hosts, ports or paths for the two), and so do http:// and
 * https:// (one commit per repository uses one URL to push). A URL that cannot be read is its own
 * key (validation reports it).
 */
export function repositoryKey(url: string): string {
  const scheme = URL_FORM.exec(url)?.[1].toLowerCase();
  if (scheme !== undefined) {
    const family = scheme === "git+ssh" || scheme === "ssh+git" ? "ssh" : scheme;
    let u: URL;
    try {
      u = new URL(`${family}${url.slice(scheme.length)}`);
    } catch {
      return url;
    }
    // URL drops 443 and 80 for https and http itself; ssh is not a special scheme.
    const port = family === "ssh" && u.port === "22" ? "" : u.port;
    return key(family, u.hostname, port, u.pathname);
  }
  const scp = SCP_LIKE.exec(url);
  return scp ? key("ssh", scp[2], "", scp[3]) : url;
}

function key(scheme: string, host: string, port: string, path: string): string {
  const repo = path.replace(/\/{2,}/g, "/").replace(/^\/+/, "").replace(/\/+$/, "")
    .replace(/\.git$/, "").replace(/\/+$/, "");
  return `${scheme}://${host.toLowerCase()}${port ? `:${port}` : ""}/${repo}`;
}
