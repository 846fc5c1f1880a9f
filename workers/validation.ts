import type { Hook, z } from "@hono/zod-openapi";
import { Problem } from "./problems";

/** A failed zod check of `target` as a 400 problem that names each bad field. */
function invalidRequest(target: string, error: z.ZodError): Problem {
  const issues = error.issues.map((i) => ({
    path: [target, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  return new Problem("invalid_request", summary, { errors: issues });
}

/** Turns a failed zod validation into a 400 problem that names each bad field. */
export const validationHook: Hook<unknown, any, any, any> = (result) => {
  if (!result.success) throw invalidRequest(result.target, result.error);
};

/**
 * For routes that check their hot requests in one pass and leave the rest to zod: `value` checked
 * against `schema` with the 400 the generic validators would give for `target`; the parsed value.
 */
export async function checkedAs<S extends z.ZodType>(schema: S, target: "query" | "param" | "header", value: unknown): Promise<z.output<S>> {
  const parsed = await schema.safeParseAsync(value);
  if (!parsed.success) throw invalidRequest(target, parsed.error);
  return parsed.data as z.output<S>;
}

/** A query as the generic validators see it: a key given once as a string, a repeated one as an array. */
export function queryObject(queries: Record<string, string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(queries).map(([k, v]) => (v.length === 1 ? [k, v[0]!] : [k, v])));
}
