/** What machine a benchmark ran on, for the header of its output. */
import { readFileSync } from "node:fs";

function firstMatch(path: string, pattern: RegExp): string {
  try {
    const m = pattern.exec(readFileSync(path, "utf8"));
    return m ? m[1].trim() : "unknown";
  } catch {
    return "unknown";
  }
}

/** CPU model name from /proc/cpuinfo. */
export function cpuModel(): string {
  return firstMatch("/proc/cpuinfo", /^model name\s*:\s*(.+)$/m);
}

/** Kernel release from /proc/sys/kernel/osrelease. */
export function kernel(): string {
  return firstMatch("/proc/sys/kernel/osrelease", /^(.+)$/m);
}

/** What a benchmark prints first: runtime and version (both runtimes set navigator.userAgent to name/version), machine, date. */
export function benchContext() {
  const [runtime, version] = navigator.userAgent.split("/");
  return {
    runtime,
    version,
    machine: { cpu: cpuModel(), cpus: navigator.hardwareConcurrency, kernel: kernel() },
    date: new Date().toISOString(),
  };
}
