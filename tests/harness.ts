/**
 * One test API over `Deno.test` and `bun:test`, so the same test files run under `deno test` and
 * `bun test`. Assertions come from `node:assert/strict` (works in both; JSR is not reachable here).
 */
type TestFn = () => void | Promise<void>;

export interface TestOptions {
  /** Skip, giving the reason (printed), e.g. "kernel lacks IOU_PBUF_RING_INC". */
  skip?: string | false;
  /** Per-test timeout, default 60 s. */
  timeoutMs?: number;
}

interface BunTest {
  (name: string, fn: TestFn, timeoutMs?: number): void;
  skip(name: string, fn: TestFn): void;
}

const deno = (globalThis as { Deno?: typeof Deno }).Deno;
const bunTestSpecifier = "bun:test";
const bunTest: BunTest | undefined = deno ? undefined : ((await import(bunTestSpecifier)) as { test: BunTest }).test;

/** Which test runner is running us (tests may need it to force a GC; the library never asks). */
export const runtime: "deno" | "bun" = deno ? "deno" : "bun";

export function test(name: string, fn: TestFn, options: TestOptions = {}): void {
  if (options.skip) console.error(`skipping "${name}": ${options.skip}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (deno) {
    deno.test({
      name,
      ignore: !!options.skip,
      // FFI resources (rings, sockets) are ours to close; the sanitizers do not know them.
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          await Promise.race([fn(), timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
    });
  } else if (options.skip) {
    bunTest!.skip(name, fn);
  } else {
    bunTest!(name, fn, timeoutMs);
  }
}

/** Forces a full garbage collection; returns false where the runtime was not started with it exposed. */
export function collectGarbage(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) {
    g.Bun.gc(true);
    return true;
  }
  if (g.gc) {
    g.gc();
    return true;
  }
  return false;
}

/** The command that runs a script on the runtime running the tests (for child-process tests). */
export function runtimeCommand(script: string, args: string[] = []): [string, string[]] {
  const exec = (globalThis as { process?: { execPath: string } }).process!.execPath;
  return deno ? [exec, ["run", "-A", script, ...args]] : [exec, [script, ...args]];
}

/**
 * Runs tests/fixtures/`name` as a child process on the test's runtime until it exits (SIGKILL after
 * `limitMs`), with `env` over this process's environment; resolves with its exit code (null when killed), signal, and stdout and stderr together.
 */
export async function runFixture(
  name: string,
  limitMs: number,
  env?: Record<string, string>,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const [cmd, args] = runtimeCommand(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));
  const { env: parentEnv } = await import("node:process");
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...parentEnv, ...env } });
  let out = "";
  child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  child.stderr!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  const killer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.on("close", (c, s) => resolve([c, s]))
  );
  clearTimeout(killer);
  return { code, signal, out };
}

/**
 * Collects console.error calls (each call's arguments) instead of printing them, until `restore()`:
 * for tests that assert what a server logs, or keep its expected failures quiet.
 */
export function captureConsoleErrors(): { errors: unknown[][]; restore: () => void } {
  const errors: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  return { errors, restore: () => void (console.error = original) };
}
