// Bytes as lowercase hex, through a table: used for digests, pseudonyms, trace ids and checksums.

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** The first `bytes` bytes (default all) of `buf` in lowercase hex. */
export function hex(buf: ArrayBuffer | Uint8Array, bytes = buf.byteLength): string {
  const view = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const n = Math.min(bytes, view.length);
  let out = "";
  for (let i = 0; i < n; i++) out += HEX[view[i]!];
  return out;
}
