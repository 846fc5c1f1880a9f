import type { Hook } from "@hono/zod-openapi";
import { Problem } from "./problems";

/** Turns a failed zod validation into a 400 problem that names each bad field. */
export const validationHook: Hook<unknown, any, any, any> = (result) => {
  if (result.success) return;
  const issues = result.error.issues.map((i) => ({
    path: [result.target, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new Problem("invalid_request", summary, { errors: issues });
};
