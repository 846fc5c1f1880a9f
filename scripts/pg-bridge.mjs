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

/** Starts the bridge; resolves to { port, close() }. */
export function startBridge(port = 5480, host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host });
    wss.on("error", reject);
    wss.on("connection", (ws, req) => {
      const url = new URL(req.url ?? "/", "http://bridge");
      const [targetHost, targetPort] = (url.searchParams.get("address") ?? "").split(":");
      if (!LOOPBACK.has(targetHost) || !/^\d+$/.test(targetPort ?? "")) {
        ws.close(1008, "only loopback Postgres targets are bridged");
        return;
      }
      const socket = net.connect(Number(targetPort), targetHost);
      const pending = [];
      socket.on("connect", () => {
        for (const chunk of pending.splice(0)) socket.write(chunk);
      });
      ws.on("message", (data) => {
        const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
        if (socket.connecting) pending.push(chunk);
        else socket.write(chunk);
      });
      socket.on("data", (chunk) => {
        if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
      });
      const closeBoth = () => {
        socket.destroy();
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      };
      ws.on("close", closeBoth);
      ws.on("error", closeBoth);
      socket.on("close", closeBoth);
      socket.on("error", closeBoth);
    });
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
