/**
 * Command-line parsing shared by the examples: node:util parseArgs with strict checking, so an
 * unknown flag, a flag without its value or a bad value ends with one line and the usage.
 */
import { isIP } from "node:net";
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = {
  [K in keyof O]: O[K]["type"] extends "boolean" ? boolean | undefined : string | undefined;
};

/** Prints `message` (one line) and the usage to stderr and exits 2. */
export function exitWithUsage(usage: string, message: string): never {
  console.error(`${message.replace(/\s*\n\s*/g, " ")}\nusage: ${usage}`);
  process.exit(2);
}

/**
 * Runs what starts an example's server, so that a failure is one line, not a stack trace: a value
 * the library refuses (a RangeError or TypeError: a pool too large for its backend, say) prints the
 * usage too and exits 2; anything else (a port in use, no memory) exits 1.
 */
export async function startOrExit<T>(name: string, usage: string, start: () => T | Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof RangeError || e instanceof TypeError) exitWithUsage(usage, message);
    console.error(`${name}: ${message.replace(/\s*\n\s*/g, " ")}`);
    process.exit(1);
  }
}

/**
 * Parses process.argv; `check` turns the strings (and the positional arguments, which are allowed
 * only where `check` accepts them) into settings, calling `fail(message)` on a bad value.
 */
export function parseExampleArgs<O extends Options, T>(
  usage: string,
  options: O,
  check: (values: Values<O>, fail: (message: string) => never, positionals: string[]) => T,
): { values: T; positionals: string[] } {
  const fail = (message: string): never => exitWithUsage(usage, message);
  const args = gluedNegatives(process.argv.slice(2), options);
  // --help (or -h) anywhere: the usage on stdout and exit 0, whatever else was given.
  if (args.some((a) => a === "--help" || a === "-h")) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    // parseArgs' own errors, without their hints about "--" and "--flag=-value" (the usage follows).
    return fail((e as Error).message.split(/(?<=[.?])\s+/).filter((s) => !s.startsWith("To specify")).join(" "));
  }
  return {
    values: check(parsed.values as unknown as Values<O>, fail, parsed.positionals),
    positionals: parsed.positionals,
  };
}

/**
 * `--flag -1` as `--flag=-1`: parseArgs takes a value that starts with "-" for a flag ("argument is
 * ambiguous"), where the flag's own check should say what it takes.
 */
function gluedNegatives(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    if (name !== undefined && options[name]?.type === "string" && /^-\d/.test(args[i + 1] ?? "")) {
      out.push(`${args[i]}=${args[++i]}`);
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** `text` as an integer in [min, max], or `fail` naming the flag. */
export function integerArg(
  name: string,
  text: string | undefined,
  min: number,
  max: number,
  fail: (message: string) => never,
): number {
  const n = Number(text);
  // Decimal digits only: Number() would also take "0x2328", "1e3" or "".
  if (text === undefined || !/^\s*-?\d+\s*$/.test(text) || !Number.isInteger(n) || n < min || n > max) {
    fail(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(text ?? "")}`);
  }
  return n;
}

/** --host: an IPv4 or IPv6 address literal ("[::1]" as well as "::1") or "localhost"; else `fail`. */
export function hostArg(text: string | undefined, fail: (message: string) => never, name = "host"): string {
  const host = text?.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text ?? "";
  if (host !== "localhost" && (isIP(host) === 0 || host.includes("%"))) {
    fail(`--${name} must be an IPv4 or IPv6 address or localhost, got ${JSON.stringify(text ?? "")}`);
  }
  return host;
}

/** The longest timeout a timer can keep, in seconds (setTimeout's limit, 2^31 ms). */
const MAX_SECONDS = 2 ** 31 / 1000;

/** `--name` as a number of seconds in [0, 2147483.648] (0 is allowed: "none"), else `fail`. */
export function secondsArg(name: string, text: string | undefined, fail: (message: string) => never): number {
  const n = Number(text);
  if (text === undefined || text.trim() === "" || !(n >= 0 && n <= MAX_SECONDS)) {
    fail(`--${name} must be a number of seconds in [0, ${MAX_SECONDS}], got ${JSON.stringify(text ?? "")}`);
  }
  return n;
}

/** "HOST:PORT" or "[IPv6]:PORT" with a port in [1, 65535], or undefined. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** A host as it is written before ":PORT" (IPv6 in brackets). */
export function displayHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * A signal this long after the first is a second one (which ends a graceful stop's grace); sooner it
 * is the first delivered twice: `bun run` with a package script forwards a terminal's Ctrl-C to a
 * program that gets it from the terminal too, and Bun calls signal listeners twice while Workers run.
 */
const SECOND_SIGNAL_MS = 200;

/**
 * Calls `first(signal)` at the first SIGINT or SIGTERM (a graceful stop), and `again()` at each one
 * SECOND_SIGNAL_MS or more after it (no more grace). `on`, not `once`: while Workers run, Bun calls
 * a signal's listeners twice per signal, and with no listener left the second call would kill the
 * process in the middle of the stop.
 */
export function onStopSignals(first: (signal: string) => Promise<void>, again: () => void): void {
  let firstAt = -1;
  const received = (signal: string) => {
    if (firstAt < 0) {
      firstAt = performance.now();
      void first(signal);
    } else if (performance.now() - firstAt >= SECOND_SIGNAL_MS) {
      again();
    }
  };
  process.on("SIGINT", () => received("SIGINT"));
  process.on("SIGTERM", () => received("SIGTERM"));
}
