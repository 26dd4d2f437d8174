// What Node.js loads for require("uring-buffers") (the "node" export condition; an import gets
// not-for-node.mjs): the package is TypeScript run by Bun or Deno, which call liburing through their
// FFI; Node has neither.
throw new Error(
  "uring-buffers runs on Bun and Deno, not Node.js: it calls liburing through their FFI, which Node does not have. " +
    "Run your program with `bun file.ts`, or with Deno (`deno run --allow-ffi file.ts`, importing the sources: " +
    'see the README\'s "Using it in your project").',
);
