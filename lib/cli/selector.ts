/**
 * Label selectors with kubectl's syntax (`-l env=prod,region in (eu,us),!legacy`), parsed and
 * matched as k8s.io/apimachinery/pkg/labels (selector.go) does:
 *
 *   key=value, key==value   the label is there with that value
 *   key!=value              the label is absent or has another value
 *   key in (a,b)            the label is there with one of the values
 *   key notin (a,b)         the label is absent or has none of the values
 *   key                     the label is there
 *   !key                    the label is absent
 *   key>n, key<n            the label is there and is an integer above / below n
 *
 * A comma joins requirements (all must hold); whitespace between tokens is ignored. Keys and
 * values are checked as Kubernetes label keys and values. No npm package parses this syntax (the
 * Kubernetes JavaScript client sends selectors to the API server as text), hence this module.
 */

export type Operator =
  | "="
  | "=="
  | "!="
  | "in"
  | "notin"
  | "exists"
  | "!"
  | ">"
  | "<";

export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

/** A selector that cannot be parsed; `position` is 1-based, in characters of the selector. */
export class SelectorError extends Error {
  constructor(readonly selector: string, readonly position: number, readonly reason: string) {
    super(`"${selector}" at position ${position}: ${reason}`);
  }
}

type TokenKind =
  | "identifier"
  | "("
  | ")"
  | ","
  | "!"
  | "="
  | "=="
  | "!="
  | ">"
  | "<"
  | "in"
  | "notin"
  | "end";

interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based start. */
  position: number;
}

const SPECIAL = new Set(["=", "!", "(", ")", ",", ">", "<"]);
const SYMBOLS: TokenKind[] = ["!=", "==", "=", "!", "(", ")", ",", ">", "<"];
const WHITESPACE = new Set([" ", "\t", "\r", "\n"]);

/** As apimachinery's Lexer: special symbols (longest first), else a word up to the next one. */
function lex(selector: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (true) {
    while (i < selector.length && WHITESPACE.has(selector[i])) i++;
    if (i >= selector.length) {
      tokens.push({ kind: "end", text: "end of string", position: selector.length + 1 });
      return tokens;
    }
    const start = i;
    if (SPECIAL.has(selector[i])) {
      const symbol = SYMBOLS.find((s) => selector.startsWith(s, i))!;
      tokens.push({ kind: symbol, text: symbol, position: start + 1 });
      i += symbol.length;
      continue;
    }
    while (i < selector.length && !SPECIAL.has(selector[i]) && !WHITESPACE.has(selector[i])) i++;
    const word = selector.slice(start, i);
    const kind: TokenKind = word === "in" || word === "notin" ? word : "identifier";
    tokens.push({ kind, text: word, position: start + 1 });
  }
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes' qualified name: `[prefix/]name`, name ≤ 63, prefix a DNS subdomain ≤ 253. */
function keyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key "${key}": the prefix must be a DNS subdomain (e.g. example.com)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `label key "${key}": must be at most 63 characters, alphanumerics, "-", "_" or ".", ` +
      `starting and ending with an alphanumeric`;
  }
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value === "" || (value.length <= 63 && NAME.test(value))) return undefined;
  return `label value "${value}": must be empty or at most 63 characters, alphanumerics, "-", ` +
    `"_" or ".", starting and ending with an alphanumeric`;
}

class Parser {
  #tokens: Token[];
  #next = 0;

  constructor(readonly selector: string) {
    this.#tokens = lex(selector);
  }

  /** In value position `in` and `notin` are ordinary words (`notin=in` is valid). */
  #peek(values = false): Token {
    const t = this.#tokens[this.#next];
    return values && (t.kind === "in" || t.kind === "notin") ? { ...t, kind: "identifier" } : t;
  }

  #take(values = false): Token {
    const t = this.#peek(values);
    if (t.kind !== "end") this.#next++;
    return t;
  }

  #fail(t: Token, reason: string): never {
    throw new SelectorError(this.selector, t.position, reason);
  }

  parse(): Requirement[] {
    const out: Requirement[] = [];
    while (true) {
      const t = this.#peek(true);
      if (t.kind === "end") return out;
      if (t.kind !== "identifier" && t.kind !== "!") {
        this.#fail(t, `found "${t.text}", expected a label key or "!"`);
      }
      out.push(this.#requirement());
      const sep = this.#take(true);
      if (sep.kind === "end") return out;
      if (sep.kind !== ",") this.#fail(sep, `found "${sep.text}", expected "," or the end`);
      const after = this.#peek(true);
      if (after.kind !== "identifier" && after.kind !== "!") {
        this.#fail(after, `found "${after.text}", expected a label key or "!" after ","`);
      }
    }
  }

  #requirement(): Requirement {
    let t = this.#take(true);
    const absent = t.kind === "!";
    if (absent) t = this.#take(true);
    if (t.kind !== "identifier") this.#fail(t, `found "${t.text}", expected a label key`);
    const key = t.text;
    const problem = keyProblem(key);
    if (problem) this.#fail(t, problem);
    const following = this.#peek(true);
    if (following.kind === "end" || following.kind === ",") {
      return { key, operator: absent ? "!" : "exists", values: [] };
    }
    if (absent) this.#fail(following, `found "${following.text}", expected "," or the end`);
    const op = this.#take();
    switch (op.kind) {
      case "in":
      case "notin":
        return { key, operator: op.kind, values: this.#set() };
      case "=":
      case "==":
      case "!=":
        return { key, operator: op.kind, values: [this.#value()] };
      case ">":
      case "<": {
        const v = this.#peek(true);
        const value = this.#value();
        if (!/^-?\d+$/.test(value)) this.#fail(v, `"${op.kind}" needs an integer, not "${value}"`);
        return { key, operator: op.kind, values: [value] };
      }
      default:
        return this.#fail(
          op,
          `found "${op.text}", expected one of =, ==, !=, in, notin, >, < (or "," or the end)`,
        );
    }
  }

  /** One value; nothing before "," or the end is the empty value (`env=` matches env=""). */
  #value(): string {
    const t = this.#peek(true);
    if (t.kind === "end" || t.kind === ",") return "";
    this.#take(true);
    if (t.kind !== "identifier") this.#fail(t, `found "${t.text}", expected a value`);
    const problem = valueProblem(t.text);
    if (problem) this.#fail(t, problem);
    return t.text;
  }

  /** `(a, b)`; as apimachinery, `()` and empty items stand for the empty value. */
  #set(): string[] {
    const open = this.#take(true);
    if (open.kind !== "(") this.#fail(open, `found "${open.text}", expected "("`);
    const values = new Set<string>();
    let expectValue = true;
    while (true) {
      const t = this.#take(true);
      if (t.kind === ")") {
        if (expectValue) values.add("");
        return [...values].sort();
      }
      if (t.kind === ",") {
        if (expectValue) values.add("");
        expectValue = true;
        continue;
      }
      if (t.kind === "identifier" && expectValue) {
        const problem = valueProblem(t.text);
        if (problem) this.#fail(t, problem);
        values.add(t.text);
        expectValue = false;
        continue;
      }
      this.#fail(t, `found "${t.text}", expected ${expectValue ? "a value, " : ""}"," or ")"`);
    }
  }
}

/** Parses one selector; throws SelectorError naming the position. "" selects everything. */
export function parseSelector(selector: string): Requirement[] {
  return new Parser(selector).parse();
}

export function matchesRequirement(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.operator) {
    case "=":
    case "==":
    case "in":
      return has && r.values.includes(value);
    case "!=":
    case "notin":
      return !has || !r.values.includes(value);
    case "exists":
      return has;
    case "!":
      return !has;
    case ">":
    case "<": {
      if (!has || !/^-?\d+$/.test(value)) return false;
      const [n, bound] = [BigInt(value), BigInt(r.values[0])];
      return r.operator === ">" ? n > bound : n < bound;
    }
  }
}

export function matchesSelector(reqs: Requirement[], labels: Record<string, string>): boolean {
  return reqs.every((r) => matchesRequirement(r, labels));
}

/** The canonical text of a requirement, as kubectl prints it (`env in (a,b)`, `!key`). */
export function formatRequirement(r: Requirement): string {
  switch (r.operator) {
    case "exists":
      return r.key;
    case "!":
      return `!${r.key}`;
    case "in":
    case "notin":
      return `${r.key} ${r.operator} (${r.values.join(",")})`;
    default:
      return `${r.key}${r.operator}${r.values[0]}`;
  }
}
