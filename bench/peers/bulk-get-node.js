// bench/downloads.sh's peer: the same stored-value server on node:net (each byte received asks for one
// copy of the value; socket.write() hands the Buffer over as it is).
//   bun bench/peers/bulk-get-node.js PORT [SIZE]   |   node bench/peers/bulk-get-node.js PORT [SIZE]
import net from "node:net";
import process from "node:process";

const port = Number(process.argv[2]);
const size = Number(process.argv[3] ?? 1 << 20);
const value = Buffer.alloc(size);
for (let i = 0; i < size; i++) value[i] = (i * 7919 + 13) & 255;
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on("data", (d) => {
    let ok = true;
    for (let i = 0; i < d.length; i++) ok = socket.write(value);
    if (!ok) {
      socket.pause();
      socket.once("drain", () => socket.resume());
    }
  });
  socket.on("error", () => {});
});
server.listen(port, "127.0.0.1", () => console.error(`listening on 127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
