// The first request on a cold machine compiles the worker and can take seconds; pay for it here,
// not inside the first test's timeout.
import { exports } from "cloudflare:workers";
import { beforeAll } from "vitest";

beforeAll(async () => {
  const res = await exports.default.fetch("http://edge.test/healthz");
  await res.arrayBuffer();
});
