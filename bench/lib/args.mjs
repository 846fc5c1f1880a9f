// Flags for benchmark scripts: `--name value`, `--name=value`, or an environment variable; flags
// win over the environment, the environment over defaults. Unknown flags are an error.
//
// spec: { name: { env?, type: "int" | "number" | "string" | "boolean", default?, help } }
export function parseArgs(spec, argv = process.argv.slice(2), env = process.env) {
  const values = {};
  for (const [name, opt] of Object.entries(spec)) {
    values[name] = opt.default;
    if (opt.env && env[opt.env] !== undefined && env[opt.env] !== "") values[name] = convert(name, opt, env[opt.env]);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return { help: true, values };
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in spec)) throw new Error(`unknown argument '${arg}' (see --help)`);
    const opt = spec[m[1]];
    let raw = m[2];
    if (raw === undefined) {
      if (opt.type === "boolean") raw = "true";
      else if (i + 1 < argv.length) raw = argv[++i];
      else throw new Error(`--${m[1]} needs a value`);
    }
    values[m[1]] = convert(m[1], opt, raw);
  }
  return { help: false, values };
}

function convert(name, opt, raw) {
  switch (opt.type) {
    case "int": {
      const n = Number(String(raw).replace(/_/g, ""));
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number >= 0, got '${raw}'`);
      return n;
    }
    case "number": {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got '${raw}'`);
      return n;
    }
    case "boolean":
      if (/^(1|true|yes)$/i.test(raw)) return true;
      if (/^(0|false|no)$/i.test(raw)) return false;
      throw new Error(`--${name} must be true or false, got '${raw}'`);
    default:
      return String(raw);
  }
}

export function usage(command, spec) {
  const lines = [`usage: ${command} [flags]`, ""];
  for (const [name, opt] of Object.entries(spec)) {
    const flag = `--${name}${opt.type === "boolean" ? "" : ` <${opt.type}>`}`;
    const env = opt.env ? ` [env ${opt.env}]` : "";
    const def = opt.default === undefined ? "" : ` (default ${opt.default})`;
    lines.push(`  ${flag.padEnd(26)} ${opt.help}${def}${env}`);
  }
  return lines.join("\n");
}
