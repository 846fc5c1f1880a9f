// A WebSocket-to-TCP bridge in front of a plain Postgres, so the Neon serverless driver (which
// speaks Postgres over WebSockets) works locally unchanged. Only loopback targets are allowed:
// this is a development tool, never something to expose.
//
//   node scripts/pg-bridge.mjs [port]        (default 5480; 0 picks a free port)
import { createRequire } from "node:module";
import net from "node:net";

const require = createRequire(import.meta.url);
const { WebSocketServer } = require("ws");

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

/**
 * Starts the bridge; resolves to { port, close() }. With `exclusive`, one client at a time reaches
 * Postgres and the others wait their turn: for PGlite, which is a single connection underneath.
 */
export function startBridge(port = 5480, host = "127.0.0.1", { exclusive = false } = {}) {
  let turn = Promise.resolve();
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host });
    wss.on("error", reject);
    wss.on("connection", (ws, req) => {
      if (!exclusive) return bridge(ws, req, () => {});
      // Buffer what the client sends while it waits for its turn.
      const early = [];
      const hold = (data) => early.push(data);
      ws.on("message", hold);
      const previous = turn;
      let done;
      turn = new Promise((r) => (done = r));
      previous.then(() => {
        ws.off("message", hold);
        if (ws.readyState !== ws.OPEN) return done();
        bridge(ws, req, done, early);
      });
    });
    const bridge = (ws, req, done, early = []) => {
      const url = new URL(req.url ?? "/", "http://bridge");
      const [targetHost, targetPort] = (url.searchParams.get("address") ?? "").split(":");
      if (!LOOPBACK.has(targetHost) || !/^\d+$/.test(targetPort ?? "")) {
        ws.close(1008, "only loopback Postgres targets are bridged");
        done();
        return;
      }
      const socket = net.connect(Number(targetPort), targetHost);
      // Postgres' protocol is many small messages each way: no Nagle delay on them.
      socket.setNoDelay(true);
      const pending = early.map((d) => (Buffer.isBuffer(d) ? d : Buffer.from(d)));
      socket.on("connect", () => {
        for (const chunk of pending.splice(0)) socket.write(chunk);
      });
      ws.on("message", (data) => {
        const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
        if (socket.connecting) pending.push(chunk);
        else socket.write(chunk);
        // Terminate ('X', length 4) ends the Postgres session. The driver may keep its WebSocket
        // open after that, so the session's end, not the socket's, frees the turn.
        if (chunk.length === 5 && chunk[0] === 0x58 && chunk.readInt32BE(1) === 4) socket.end(() => closeBoth());
      });
      socket.on("data", (chunk) => {
        if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
      });
      let closed = false;
      const closeBoth = () => {
        socket.destroy();
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
        if (!closed) {
          closed = true;
          done();
        }
      };
      ws.on("close", closeBoth);
      ws.on("error", closeBoth);
      socket.on("close", closeBoth);
      socket.on("error", closeBoth);
    };
    wss.on("listening", () => {
      resolve({
        port: wss.address().port,
        close: () =>
          new Promise((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bridge = await startBridge(Number(process.argv[2] ?? 5480));
  console.log(`pg-bridge: ws://127.0.0.1:${bridge.port}/v1 -> loopback Postgres`);
}
