/**
 * SSH git URLs as git itself reads them: `ssh://[user@]host[:port]/path` (also git+ssh://) and the
 * scp-like `[user@]host:path`; plus quoting the path for the remote shell.
 */

export interface SshUrl {
  user: string;
  host: string;
  port: number;
  /** As git sends it: absolute for ssh:// URLs, as written for scp-like ones ("org/repo.git"). */
  path: string;
}

/** Without a user in the URL we do not fall back to the local login name, as git would. */
const DEFAULT_USER = "git";

function checkPath(path: string, url: string): string {
  // Newlines or NUL could smuggle a second command past the remote shell quoting.
  if (path === "" || path === "/" || /[\0\r\n]/.test(path)) {
    throw new Error(`invalid SSH git URL "${url}": missing or invalid repository path`);
  }
  return path;
}

function checkUser(user: string, url: string): string {
  if (!/^[^\s@:/]+$/.test(user)) throw new Error(`invalid SSH git URL "${url}": invalid user`);
  return user;
}

export function parseSshUrl(url: string): SshUrl {
  const scheme = /^(?:ssh|git\+ssh|ssh\+git):\/\//i;
  if (scheme.test(url)) {
    let u: URL;
    try {
      u = new URL(url.replace(scheme, "ssh://"));
    } catch {
      throw new Error(`invalid SSH git URL "${url}"`);
    }
    if (u.hostname === "") throw new Error(`invalid SSH git URL "${url}": missing host`);
    if (u.password !== "") {
      throw new Error(`SSH git URL "${u.hostname}" must not contain a password: use a key`);
    }
    const port = u.port === "" ? 22 : Number(u.port);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    return {
      user: checkUser(u.username === "" ? DEFAULT_USER : decodeURIComponent(u.username), url),
      host,
      port,
      path: checkPath(decodeURIComponent(u.pathname), url),
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new Error(`not an SSH git URL: "${url.replace(/\/\/[^/@]*@/, "//")}"`);
  }
  // scp-like: the first ":" before any "/" separates host from path; [..] allows IPv6.
  const m = /^(?:([^@/:\s]+)@)?(\[[^\]]+\]|[^/:\s[\]]+):(.*)$/.exec(url);
  if (!m) throw new Error(`invalid SSH git URL "${url}": expected ssh://user@host[:port]/path`);
  return {
    user: checkUser(m[1] ?? DEFAULT_USER, url),
    host: m[2].replace(/^\[(.*)\]$/, "$1"),
    port: 22,
    path: checkPath(m[3], url),
  };
}

/** POSIX single-quoting, as git does for the remote command (git-shell dequotes exactly this). */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** "host:port" for messages; brackets for IPv6. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
