/**
 * Every TypeScript snippet in README.md runs, as a newcomer would run it: each ```ts block is
 * preceded by `<!-- snippet: KIND -->` saying how to check it, and is written to a file next to
 * mod.ts (its `./mod.ts` import then resolves) and started as a child process (type-checked on Deno).
 *   run    — exits 0 within 10 s.
 *   echo   — a server (port 9000 becomes 0): bytes sent with a half-close come back whole, then EOF.
 *   count  — a server that answers "N bytes" after the client's half-close.
 *   http   — an HTTP server (port 9000 becomes 0): `GET /` answers 200 with a body; where the snippet has a
 *            `/echo` route, 300 KB POSTed there come back whole.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runtime, runtimeCommand, test } from "./harness.ts";
import { sendAndHalfClose } from "./clients.ts";
import { patternBytes } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(`${root}/README.md`, "utf8");

interface Snippet {
  kind: string;
  code: string;
  line: number;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  const re = /(?:<!-- snippet: (\w+) -->\n\n?)?```ts\n([\s\S]*?)```/g;
  for (let m; (m = re.exec(readme));) {
    out.push({ kind: m[1] ?? "", code: m[2], line: readme.slice(0, m.index).split("\n").length });
  }
  return out;
}

/** The command for a snippet; on Deno with type checking, so the README's types are checked too. */
function snippetCommand(file: string): [string, string[]] {
  const [cmd, args] = runtimeCommand(file);
  return [cmd, runtime === "deno" ? ["run", "--check", ...args.slice(1)] : args];
}

async function startServer(file: string): Promise<{ child: ChildProcess; port: number }> {
  const [cmd, args] = snippetCommand(file);
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // it was left running (a snippet that never says where it listens)
      reject(new Error(`did not start: ${err}`));
    }, 15_000);
    const check = () => {
      const m = /listening on \S+:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else if (child.exitCode === null) setTimeout(check, 20);
      else reject(new Error(`exited ${child.exitCode}: ${err}`));
    };
    check();
  });
  return { child, port };
}

test("every README snippet says how it is checked", () => {
  const all = snippets();
  assert.ok(all.length >= 5);
  for (const s of all) {
    assert.ok(["run", "echo", "count", "http"].includes(s.kind), `README.md:${s.line}: kind "${s.kind}"`);
  }
});

for (const [i, snippet] of snippets().entries()) {
  test(`README snippet at line ${snippet.line} (${snippet.kind})`, async () => {
    const file = `${root}/.readme_snippet_${i}.ts`;
    writeFileSync(file, snippet.code.replace(/port: 9000/g, "port: 0"));
    try {
      if (snippet.kind === "run") {
        const [cmd, args] = snippetCommand(file);
        const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
        let err = "";
        child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
        clearTimeout(timer);
        assert.equal(code, 0, err);
        return;
      }
      const { child, port } = await startServer(file);
      try {
        const payload = patternBytes(i + 1, 300_000);
        if (snippet.kind === "http") {
          const got = await fetch(`http://127.0.0.1:${port}/`);
          assert.equal(got.status, 200);
          assert.ok((await got.arrayBuffer()).byteLength > 0, "GET / has a body");
          if (snippet.code.includes('"/echo"')) {
            const echoed = await fetch(`http://127.0.0.1:${port}/echo`, {
              method: "POST",
              body: payload as Uint8Array<ArrayBuffer>,
            });
            assert.deepEqual(new Uint8Array(await echoed.arrayBuffer()), payload);
          }
          return;
        }
        const reply = await sendAndHalfClose(port, payload);
        if (snippet.kind === "echo") assert.deepEqual(reply, payload);
        else assert.equal(new TextDecoder().decode(reply), `${payload.length} bytes\n`);
      } finally {
        child.kill("SIGKILL");
      }
    } finally {
      rmSync(file, { force: true });
    }
  });
}
