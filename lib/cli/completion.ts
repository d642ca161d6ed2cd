/**
 * `fluxfleet completion bash|zsh`: a completion script made from the command line's own
 * definition (commander's commands, options, their choices and arguments), so it cannot drift
 * from the commands: commands and subcommands, every option, the values of options with choices
 * (`--output`'s formats per command), and files where a file is expected.
 *
 *   bash: source <(fluxfleet completion bash)   (or save it in /etc/bash_completion.d/fluxfleet)
 *   zsh:  source <(fluxfleet completion zsh)    (after compinit; or save it as _fluxfleet in $fpath)
 */
import { Argument, type Command, type Option } from "commander";
import { subcommand } from "./program.ts";
import type { Cli } from "./context.ts";

/** What an option or argument expects: a choice, a file, a folder, or a word of the user's. */
type ValueKind =
  | { kind: "choice"; choices: string[] }
  | { kind: "file"; pattern?: string }
  | { kind: "dir" }
  | { kind: "word" };

interface OptionSpec {
  flags: string[];
  description: string;
  /** Set when the option takes a value. */
  value?: { name: string; expects: ValueKind };
  repeatable: boolean;
}

interface ArgumentSpec {
  name: string;
  variadic: boolean;
  expects: ValueKind;
}

interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  args: ArgumentSpec[];
  subcommands: CommandSpec[];
}

const HELP: OptionSpec = {
  flags: ["-h", "--help"],
  description: "display help",
  repeatable: false,
};

function expects(name: string, choices: readonly string[] | undefined): ValueKind {
  if (choices && choices.length > 0) return { kind: "choice", choices: [...choices] };
  if (name === "file") return { kind: "file", pattern: "*.(yaml|yml)" };
  if (/files?$/.test(name)) {
    return { kind: "file", pattern: name.includes("plan") ? "*.json" : undefined };
  }
  if (name === "dir") return { kind: "dir" };
  return { kind: "word" };
}

function optionSpec(o: Option): OptionSpec {
  const flags = [o.short, o.long].filter((f): f is string => f !== undefined);
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
  return {
    flags,
    description: o.description,
    ...(valueName ? { value: { name: valueName, expects: expects(valueName, o.argChoices) } } : {}),
    repeatable: /repeatable/.test(o.description),
  };
}

function argumentSpec(a: Argument): ArgumentSpec {
  return { name: a.name(), variadic: a.variadic, expects: expects(a.name(), a.argChoices) };
}

/** The program's commands as data (help and hidden commands left out). */
export function commandSpec(cmd: Command): CommandSpec {
  return {
    name: cmd.name(),
    description: cmd.description(),
    options: [...cmd.options.map(optionSpec), HELP],
    args: cmd.registeredArguments.map(argumentSpec),
    subcommands: cmd.commands.filter((c) => c.name() !== "help").map(commandSpec),
  };
}

/** Every command with its path of names ("manifests pull"), the program itself as "". */
function walk(spec: CommandSpec, path: string[] = []): { path: string[]; spec: CommandSpec }[] {
  return [{ path, spec }, ...spec.subcommands.flatMap((s) => walk(s, [...path, s.name]))];
}

// ---- bash ------------------------------------------------------------------------------------

/** A word list for compgen -W: one word a line, since the function splits on newlines only. */
function words(list: string[]): string {
  return `$'${list.join("\\n")}'`;
}

function bashCompgen(kind: ValueKind): string {
  switch (kind.kind) {
    case "choice":
      return `COMPREPLY=($(compgen -W ${words(kind.choices)} -- "$cur")); return`;
    case "file":
      return `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return`;
    case "dir":
      return `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return`;
    case "word":
      return "COMPREPLY=(); return";
  }
}

export function bashCompletion(program: Command): string {
  const all = walk(commandSpec(program));
  const state = (path: string[]) => path.join("/");
  const transitions = all.flatMap(({ path, spec }) =>
    spec.subcommands.map((s) => `"${state(path)}:${s.name}"`)
  );
  const valueCases = all.flatMap(({ path, spec }) =>
    spec.options.filter((o) => o.value).map((o) =>
      `    ${o.flags.map((f) => `"${state(path)}:${f}"`).join("|")}) ${
        bashCompgen(o.value!.expects)
      } ;;`
    )
  );
  const valueOptions = all.flatMap(({ path, spec }) =>
    spec.options.filter((o) => o.value).flatMap((o) => o.flags.map((f) => `"${state(path)}:${f}"`))
  );
  const wordCases = all.map(({ path, spec }) => {
    const options = words(spec.options.flatMap((o) => o.flags));
    const complete = (kind: ValueKind) => bashCompgen(kind).replace(/; return$|^return$/, "");
    // The n-th word that is neither an option nor an option's value: the n-th argument.
    const byPosition = spec.subcommands.length > 0
      ? [`0) COMPREPLY=($(compgen -W ${words(spec.subcommands.map((c) => c.name))} -- "$cur")) ;;`]
      : spec.args.map((a, i) => `${a.variadic ? "*" : i}) ${complete(a.expects)} ;;`);
    return [
      `    "${state(path)}")`,
      `      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W ${options} -- "$cur")); return; fi`,
      `      case $n in`,
      ...byPosition.map((c) => `        ${c}`),
      ...(spec.args.some((a) => a.variadic) ? [] : [`        *) COMPREPLY=() ;;`]),
      `      esac ;;`,
    ].join("\n");
  });
  return `# fluxfleet completion for bash: source <(fluxfleet completion bash),
# or save it as /etc/bash_completion.d/fluxfleet. Made from fluxfleet's own command definitions.
_fluxfleet() {
  # Words split on newlines only: file names may hold spaces.
  local IFS=$'\\n' cur="\${COMP_WORDS[COMP_CWORD]}" prev="" state="" word i n=0 value=""
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # Before the cursor: the command path (manifests/pull), then how many arguments it has (n),
  # options and their values left out.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ -n $value ]]; then value=""; continue; fi
    case "$state:$word" in
      ${transitions.join("|")}) state="\${state:+$state/}$word"; n=0; continue ;;
      ${valueOptions.join("|")}) value=1; continue ;;
    esac
    [[ $word == -* ]] || n=$((n + 1))
  done
  case "$state:$prev" in
${valueCases.join("\n")}
  esac
  case "$state" in
${wordCases.join("\n")}
  esac
}
complete -F _fluxfleet fluxfleet
`;
}

// ---- zsh -------------------------------------------------------------------------------------

/** Text inside an _arguments spec in single quotes: brackets escaped, quotes closed and reopened. */
function zshText(text: string): string {
  return text.replace(/[[\]\\:]/g, (c) => `\\${c}`).replaceAll("'", `'\\''`);
}

function zshAction(kind: ValueKind): string {
  switch (kind.kind) {
    case "choice":
      return `(${kind.choices.join(" ")})`;
    case "file":
      return kind.pattern ? `_files -g "${kind.pattern}"` : "_files";
    case "dir":
      return "_files -/";
    case "word":
      return " ";
  }
}

function zshOption(o: OptionSpec): string[] {
  const exclusive = o.flags.length > 1 && !o.repeatable ? `(${o.flags.join(" ")})` : "";
  const value = o.value ? `:${zshText(o.value.name)}:${zshAction(o.value.expects)}` : "";
  return o.flags.map((f) =>
    `'${o.repeatable ? "*" : exclusive}${f}${o.value && f.startsWith("--") ? "=" : ""}[${
      zshText(o.description)
    }]${value}'`
  );
}

function zshFunction(path: string[], spec: CommandSpec): string {
  const name = ["_fluxfleet", ...path].join("_").replaceAll("-", "_");
  const specs = spec.options.flatMap(zshOption);
  if (spec.subcommands.length > 0) {
    const list = spec.subcommands.map((s) => `    '${s.name}:${zshText(s.description)}'`);
    const cases = spec.subcommands.map((s) =>
      `        ${s.name}) ${["_fluxfleet", ...path, s.name].join("_").replaceAll("-", "_")} ;;`
    );
    return `${name}() {
  local curcontext="$curcontext" state line
  local -a commands
  commands=(
${list.join("\n")}
  )
  _arguments -C \\
    ${specs.join(" \\\n    ")} \\
    '1: :->command' '*:: :->args'
  case $state in
    command) _describe -t commands '${["fluxfleet", ...path, "command"].join(" ")}' commands ;;
    args)
      case $words[1] in
${cases.join("\n")}
      esac ;;
  esac
}`;
  }
  const args = spec.args.map((a, i) =>
    `'${a.variadic ? "*" : i + 1}:${zshText(a.name)}:${zshAction(a.expects)}'`
  );
  return `${name}() {
  _arguments -s -S \\
    ${[...specs, ...args].join(" \\\n    ")}
}`;
}

export function zshCompletion(program: Command): string {
  const all = walk(commandSpec(program));
  return `#compdef fluxfleet
# fluxfleet completion for zsh: source <(fluxfleet completion zsh) after compinit, or save it as
# _fluxfleet in a folder of $fpath. Made from fluxfleet's own command definitions.
${all.map(({ path, spec }) => zshFunction(path, spec)).join("\n\n")}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _fluxfleet "$@"
else
  compdef _fluxfleet fluxfleet
fi
`;
}

export function completionCommand(program: Command, cli: Cli): void {
  subcommand(program, "completion")
    .description("print a shell completion script: source <(fluxfleet completion bash)")
    // The choices are checked by commander and offered by the completion itself.
    .addArgument(new Argument("<shell>", "bash or zsh").choices(["bash", "zsh"]))
    .action((shell: "bash" | "zsh") => {
      cli.print(shell === "bash" ? bashCompletion(program) : zshCompletion(program));
    });
}
