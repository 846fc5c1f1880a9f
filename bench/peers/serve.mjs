// Starts a peer's Hono app on Node (@hono/node-server) on 127.0.0.1 and tells the parent which
// port it got: over IPC when forked, else on stdout. Stops cleanly on SIGTERM or when the parent
// goes away.
import { serve } from "@hono/node-server";

export function servePeer(app, { name, port = Number(process.env.PORT ?? 0), close = async () => {} }) {
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, (info) => {
    if (process.send) process.send({ type: "listening", port: info.port });
    else console.log(`${name} listening on http://127.0.0.1:${info.port}`);
  });
  // Keep-alive connections from the load generator are long-lived; do not cut them mid-run.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(() => resolve()));
    await close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  if (process.send) {
    process.on("SIGINT", () => {}); // Ctrl-C reaches the whole group: the bench decides when we stop
    process.on("disconnect", stop);
  } else {
    process.on("SIGINT", stop);
  }
  return server;
}
