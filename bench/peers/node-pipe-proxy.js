// The proxy a Node/Bun user writes with node:net: each accepted socket piped to a new connection to
// the target and back (pipe() carries backpressure and half-closes). For bench/proxy.sh.
//   bun bench/peers/node-pipe-proxy.js PORT TARGET_PORT   |   node bench/peers/node-pipe-proxy.js PORT TARGET_PORT
import net from "node:net";
import process from "node:process";

const port = Number(process.argv[2]);
const targetPort = Number(process.argv[3]);
const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: "127.0.0.1", port: targetPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
server.listen(port, "127.0.0.1", () => console.error(`listening on 127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
