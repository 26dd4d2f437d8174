/**
 * Command-line parsing shared by the examples: node:util parseArgs with strict checking, so an
 * unknown flag, a flag without its value or a bad value ends with one line and the usage.
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values<O extends Options> = {
  [K in keyof O]: O[K]["type"] extends "boolean" ? boolean | undefined : string | undefined;
};

/** Parses process.argv; `check` turns the strings into settings, calling `fail(message)` on a bad value. */
export function parseExampleArgs<O extends Options, T>(
  usage: string,
  options: O,
  check: (values: Values<O>, fail: (message: string) => never) => T,
): { values: T; positionals: string[] } {
  const fail = (message: string): never => {
    console.error(`${message}\nusage: ${usage}`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: true });
  } catch (e) {
    return fail((e as Error).message);
  }
  return { values: check(parsed.values as unknown as Values<O>, fail), positionals: parsed.positionals };
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
