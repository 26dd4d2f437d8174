/**
 * The published package, as its users get it: the three entry points export exactly their tier;
 * package.json and deno.json agree; `npm pack` ships the sources Bun and Deno run (and nothing of
 * tests/, bench/, examples/); a fresh Bun project installs the tarball offline and runs an echo server
 * from `import { listen } from "uring-buffers"` (plus `uring-buffers/ring` and `/sys`); Deno runs the
 * same program through an import map onto the unpacked tarball, type-checked. Offline throughout:
 * the installs get an unreachable registry. Skipped only where npm is missing.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as mod from "../mod.ts";
import * as ring from "../ring.ts";
import * as sys from "../sys.ts";
import * as prep from "../src/prep.ts";
import { runtime, test } from "./harness.ts";
import { sendAndHalfClose } from "./clients.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const program = fileURLToPath(new URL("./fixtures/package_echo.ts", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const denoConfig = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const tarball = `${pkg.name}-${pkg.version}.tgz`;
/** Any registry request fails at once: installs must not need the network. */
const NO_REGISTRY = "http://127.0.0.1:9/";
const CHILD_LIMIT_MS = 20_000;

const npmMissing = (() => {
  const r = spawnSync("npm", ["--version"], { encoding: "utf8" });
  return r.error || r.status !== 0 ? `npm not found (${r.error?.message ?? r.stderr})` : false;
})();

// The runtime binaries: the one running the tests, else the project's own (scripts/setup.sh installs both).
const proc = (globalThis as unknown as { process: { execPath: string; env: Record<string, string | undefined> } })
  .process;
const bin = (name: "bun" | "deno") => (runtime === name ? proc.execPath : join(root, "node_modules/.bin", name));
const childEnv = {
  ...proc.env,
  DENO_NO_UPDATE_CHECK: "1",
  DENO_NO_PROMPT: "1",
  DO_NOT_TRACK: "1",
  BUN_DISABLE_TELEMETRY: "1",
  NPM_CONFIG_REGISTRY: NO_REGISTRY,
  npm_config_registry: NO_REGISTRY,
  BUN_CONFIG_REGISTRY: NO_REGISTRY,
};

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env: childEnv, encoding: "utf8", timeout: CHILD_LIMIT_MS });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} (in ${cwd}) failed: ${r.error ?? ""}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The declaration files the package ships (npm's prepack builds them; --ignore-scripts skips that). */
function buildTypes(): void {
  run("bash", ["scripts/build-types.sh"], root);
}

/** npm pack of the working tree into `dir`; returns the tarball's path. */
function pack(dir: string): string {
  buildTypes();
  const out = JSON.parse(
    run("npm", ["pack", "--json", "--offline", "--ignore-scripts", "--pack-destination", dir], root),
  );
  assert.equal(out[0].filename, tarball);
  const path = join(dir, tarball);
  assert.ok(existsSync(path), `${path} missing`);
  return path;
}

/**
 * Runs the fixture program in `cwd` and checks it as a user would: the ring NOP and the sys socket
 * worked, the entry points resolved inside `cwd` (the installed package, not this repository), 256 KiB
 * sent with a half-close come back whole, then the program stops its server and exits 0.
 */
async function runEchoProgram(cmd: string, args: string[], cwd: string): Promise<void> {
  const child: ChildProcess = spawn(cmd, args, { cwd, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  child.stdout!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const killer = setTimeout(() => child.kill("SIGKILL"), CHILD_LIMIT_MS);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const check = () => {
        const m = /listening on \S+:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
        else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`exited early:\n${err}`));
        else setTimeout(check, 20);
      };
      check();
    });
    assert.match(err, /ring: nop 7 0\n/);
    assert.match(err, /sys: bound true\n/);
    const resolved = /resolved: (\S+) (\S+)\n/.exec(err);
    assert.ok(resolved, err);
    for (const url of resolved.slice(1)) assert.ok(fileURLToPath(url).startsWith(cwd), `${url} is outside ${cwd}`);
    const payload = new Uint8Array(randomBytes(256 * 1024));
    const echoed = await sendAndHalfClose(port, payload);
    assert.equal(echoed.length, payload.length);
    assert.ok(Buffer.compare(echoed, payload) === 0, "echoed bytes differ");
    assert.equal(await exited, 0, err);
    assert.match(err, /stopped\n/);
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

test("entry points: mod.ts for programs, ring.ts for custom loops, sys.ts for libc sockets and files", () => {
  const names = (m: object) => Object.keys(m).sort();
  assert.deepEqual(names(mod), [
    "BufferPool",
    "ClosedError",
    "Connection",
    "DATAGRAM_HEADROOM",
    "Errno",
    "HttpServer",
    "IoLoop",
    "Lease",
    "MAX_UDP_PAYLOAD",
    "ServeInfo",
    "Server",
    "SubmissionQueueFullError",
    "UdpSocket",
    "UnsupportedError",
    "UringError",
    "WorkerGroup",
    "bindUdp",
    "connect",
    "contentTypeOf",
    "datagramBufferSize",
    "errnoName",
    "fileResponse",
    "getDefaultLoop",
    "listen",
    "probeFeatures",
    "serve",
    "serveWorker",
    "startWorkers",
  ]);
  const prepNames = Object.keys(prep).sort();
  assert.deepEqual(
    names(ring),
    [
      "BufferRing",
      "DATAGRAM_HEADROOM",
      "DatagramReceiver",
      "Driver",
      "Errno",
      "NO_TARGET",
      "NativeMemory",
      "ProvidedBufferGroup",
      "Reactor",
      "Ring",
      "SqeArray",
      "StreamReceiver",
      "abi",
      "errnoName",
      "probeFeatures",
      ...prepNames, // every prep function (and setBufferSelect / setBundle)
    ].sort(),
  );
  assert.ok(prepNames.includes("prepNop") && prepNames.includes("setBufferSelect"));
  assert.equal(ring.abi.IORING_OP_NOP, 0);
  assert.deepEqual(names(sys), [
    "closeFd",
    "connectSocket",
    "localAddress",
    "openFile",
    "remoteAddress",
    "setLingerZero",
    "setNoDelay",
    "setReceiveBuffer",
    "tcpConnect",
    "tcpListen",
    "udpBind",
  ]);
  // DATAGRAM_HEADROOM sizes UDP buffers (mod) and DatagramReceiver pools (ring): one value, two doors.
  assert.equal(mod.DATAGRAM_HEADROOM, ring.DATAGRAM_HEADROOM);
  assert.equal(mod.errnoName, ring.errnoName);
  // What Node.js imports instead declares every one of these names, so that a named import links.
  const stub = readFileSync(join(root, "not-for-node.mjs"), "utf8");
  const declared = new Set(stub.match(/export let ([^;]+);/)![1].split(/,\s*/));
  const missing = [...names(mod), ...names(ring), ...names(sys)].filter((n) => !declared.has(n));
  assert.deepEqual(missing, [], "names not-for-node.mjs lacks");
});

test("package.json and deno.json: one version, the same entry points, a CHANGELOG entry", () => {
  assert.equal(pkg.version, denoConfig.version);
  assert.equal(pkg.private, undefined, "package.json must not be private");
  assert.equal(pkg.type, "module");
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
  assert.deepEqual(Object.keys(denoConfig.exports), [".", "./ring", "./sys"]);
  for (const [subpath, file] of Object.entries(denoConfig.exports as Record<string, string>)) {
    const conditions = pkg.exports[subpath];
    assert.ok(conditions, `package.json exports lacks "${subpath}"`);
    for (const condition of ["bun", "import", "default"]) assert.equal(conditions[condition], file);
    // Deno runs no TypeScript from node_modules: the npm package says so to it, and where to look instead.
    assert.equal(conditions.deno, "./not-for-node.mjs");
    // The declarations tsc makes of that file (scripts/build-types.sh): types/<path>.d.ts.
    assert.equal(conditions.types, `./types/${file.slice(2).replace(/\.ts$/, ".d.ts")}`);
  }
  const changelog = readFileSync(join(root, "CHANGELOG.md"), "utf8");
  assert.match(changelog, new RegExp(`^## ${pkg.version.replaceAll(".", "\\.")}\\b`, "m"));
});

test(
  `npm pack: ${tarball} ships the entry points, their declarations, src/, ffi/ (Bun's loader too), README, CHANGELOG`,
  () => {
    buildTypes();
    const out = JSON.parse(run("npm", ["pack", "--dry-run", "--json", "--offline", "--ignore-scripts"], root));
    assert.equal(out[0].filename, tarball);
    const files: string[] = out[0].files.map((f: { path: string }) => f.path);
    for (const f of ["mod.ts", "ring.ts", "sys.ts", "package.json", "README.md", "CHANGELOG.md", "LICENSE"]) {
      assert.ok(files.includes(f), `${f} not packed`);
    }
    for (
      const f of ["ffi/mod.ts", "ffi/deno.ts", "ffi/bun.ts", "ffi/bun_waiter.ts", "src/ring.ts", "src/net/server.ts"]
    ) {
      assert.ok(files.includes(f), `${f} not packed`);
    }
    for (const [subpath, conditions] of Object.entries(pkg.exports as Record<string, { types?: string }>)) {
      if (conditions.types) {
        assert.ok(files.includes(conditions.types.slice(2)), `${subpath}: ${conditions.types} not packed`);
      }
    }
    const stray = files.filter((f) => /^(tests|bench|examples|scripts|node_modules|\.ci)\//.test(f));
    assert.deepEqual(stray, []);
  },
  { skip: npmMissing },
);

test('Bun: a fresh project installs the tarball offline and runs an echo server from "uring-buffers"', async () => {
  const dir = mkdtempSync(join(tmpdir(), "uring-buffers-bun-"));
  try {
    const tgz = pack(dir);
    const app = join(dir, "app");
    run("mkdir", [app], dir);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    copyFileSync(tgz, join(app, tarball));
    const cache = join(dir, "bun-cache");
    run(bin("bun"), [
      "add",
      "--offline",
      "--no-progress",
      `--cache-dir=${cache}`,
      `--registry=${NO_REGISTRY}`,
      `./${tarball}`,
    ], app);
    const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
    assert.equal(manifest.dependencies?.[pkg.name], `./${tarball}`);
    assert.ok(existsSync(join(app, "node_modules", pkg.name, "ring.ts")));
    // Node.js resolves the package to a file that says why it cannot run it (before: an unknown ".ts"
    // extension), for a named import (which must link first), a dynamic one and require alike.
    for (
      const [flag, code] of [
        ["--input-type=module", `import { serve } from "${pkg.name}"; serve();`],
        ["--input-type=module", `import { prepNop } from "${pkg.name}/ring"; prepNop();`],
        ["--input-type=module", `import uring from "${pkg.name}"; uring();`],
        ["-e", `import("${pkg.name}/sys").catch((e) => { console.error(e.message); process.exit(1); })`],
        ["-e", `require("${pkg.name}")`],
      ]
    ) {
      const args = flag === "-e" ? ["-e", code] : [flag, "-e", code];
      const node = spawnSync("node", args, { cwd: app, encoding: "utf8" });
      if (node.error !== undefined) break; // no node on this machine
      assert.match(node.stderr, /runs on Bun and Deno, not Node\.js/, `${code}: ${node.stderr}`);
    }
    // Deno with the package in node_modules (before: "Stripping types is currently unsupported for files under
    // node_modules", no word of what to do).
    const deno = spawnSync(bin("deno"), ["eval", `import { serve } from "${pkg.name}"; serve();`], {
      cwd: app,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    assert.match(deno.stderr, /npm package is not for Deno.*Using it in your project/s, deno.stderr);
    copyFileSync(program, join(app, "echo.ts"));
    await runEchoProgram(bin("bun"), ["echo.ts"], app);
    // Type-checked as `bun init` sets a project up (noUncheckedIndexedAccess and all), against the
    // shipped declarations: before they shipped, tsc checked our sources under these settings (169 errors).
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          lib: ["ESNext"],
          target: "ESNext",
          module: "Preserve",
          moduleDetection: "force",
          moduleResolution: "bundler",
          allowImportingTsExtensions: true,
          verbatimModuleSyntax: true,
          noEmit: true,
          strict: true,
          skipLibCheck: true,
          noFallthroughCasesInSwitch: true,
          noUncheckedIndexedAccess: true,
          noImplicitOverride: true,
          typeRoots: [join(root, "node_modules")],
          types: ["bun-types"],
        },
        files: ["echo.ts"],
      }),
    );
    run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], app);
    // The legacy resolution (`"moduleResolution": "node"`) reads no exports map: package.json's `types` and
    // `typesVersions` point it at the same declarations (before: the root import failed, the subpaths
    // fell through to the sources and 73 errors).
    writeFileSync(
      join(app, "tsconfig.node10.json"),
      JSON.stringify({
        compilerOptions: {
          lib: ["ESNext"],
          target: "ES2022",
          module: "ES2022",
          moduleResolution: "node",
          allowImportingTsExtensions: true,
          noEmit: true,
          strict: true,
          noUncheckedIndexedAccess: true,
          typeRoots: [join(root, "node_modules")],
          types: ["bun-types"],
        },
        files: ["echo.ts"],
      }),
    );
    run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.node10.json"], app);
    // A bundle cannot carry the FFI loader picked at run time: it fails saying so (before: "Cannot find module
    // .../bun.ts").
    run(bin("bun"), ["build", "echo.ts", "--target", "bun", "--outdir", "bundle"], app);
    const bundled = spawnSync(bin("bun"), ["bundle/echo.js"], {
      cwd: app,
      env: childEnv,
      encoding: "utf8",
      timeout: CHILD_LIMIT_MS,
    });
    assert.notEqual(bundled.status, 0);
    assert.match(
      bundled.stderr,
      /uring-buffers cannot run from a bundle: .*Run the program with bun without `bun build`/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { skip: npmMissing, timeoutMs: 40_000 });

test("Deno: the same program, type-checked, through an import map onto the unpacked tarball", async () => {
  const dir = mkdtempSync(join(tmpdir(), "uring-buffers-deno-"));
  try {
    const tgz = pack(dir);
    run("tar", ["-xzf", tgz], dir); // into dir/package, as npm lays it out
    // The import map comes from the package's own exports: "uring-buffers/ring" -> ./package/ring.ts.
    const unpacked = JSON.parse(readFileSync(join(dir, "package", "package.json"), "utf8"));
    const imports: Record<string, string> = {};
    for (const [subpath, conditions] of Object.entries(unpacked.exports as Record<string, { default?: string }>)) {
      if (conditions.default?.endsWith(".ts")) {
        imports[unpacked.name + subpath.slice(1)] = `./package/${conditions.default.slice(2)}`;
      }
    }
    assert.deepEqual(Object.keys(imports).sort(), ["uring-buffers", "uring-buffers/ring", "uring-buffers/sys"]);
    writeFileSync(join(dir, "deno.json"), JSON.stringify({ imports }));
    copyFileSync(program, join(dir, "echo.ts"));
    const flags = ["run", "--check", "--no-remote", "--no-lock", "--allow-ffi", "--allow-read", "--allow-env"];
    await runEchoProgram(bin("deno"), [...flags, "echo.ts"], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { skip: npmMissing, timeoutMs: 40_000 });
