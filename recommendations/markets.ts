// Markets: where a shopper buys decides the currency of the price shown and, unless the browser's
// Accept-Language says otherwise, the language of the names. A catalogue item's `name` is its base
// (English) name; `names` adds translations and `prices` a price per market.
import type { Card } from "./store";

export const MARKETS: Record<string, { language: string; currency: string }> = {
  FR: { language: "fr", currency: "EUR" },
  DE: { language: "de", currency: "EUR" },
  NL: { language: "nl", currency: "EUR" },
  GB: { language: "en", currency: "GBP" },
  US: { language: "en", currency: "USD" },
  CA: { language: "en", currency: "CAD" },
  JP: { language: "ja", currency: "JPY" },
  SG: { language: "en", currency: "SGD" },
  AU: { language: "en", currency: "AUD" },
};

/** Each deployed region's markets; the first is the default when a request names none. */
export const REGION_MARKETS: Record<string, readonly string[]> = {
  eu: ["FR", "DE", "NL", "GB"],
  us: ["US", "CA"],
  apac: ["JP", "SG", "AU"],
};

/** The language of every catalogue item's base `name`. */
export const BASE_LANGUAGE = "en";

/**
 * The languages of an Accept-Language header, best first (q=0 dropped), each followed by its
 * primary subtag: "fr-CH, de;q=0.5" -> ["fr-ch", "fr", "de"]. At most 10, whatever the header holds.
 */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  let known = acceptedByHeader.get(header);
  if (!known) {
    // Storefronts send a handful of distinct headers: each is parsed once per isolate.
    if (acceptedByHeader.size >= 500) acceptedByHeader.clear();
    acceptedByHeader.set(header, (known = parseAcceptLanguage(header)));
  }
  return known;
}

const acceptedByHeader = new Map<string, string[]>();

function parseAcceptLanguage(header: string): string[] {
  const ranked = header
    .split(",")
    .slice(0, 20)
    .map((part, i) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { tag: tag.trim().toLowerCase(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((l) => /^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(l.tag) && Number.isFinite(l.q) && l.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  const out: string[] = [];
  for (const { tag } of ranked) for (const t of [tag, tag.split("-")[0]!]) if (!out.includes(t)) out.push(t);
  return out.slice(0, 10);
}

/** The item's name in the first accepted language it has, else in the market's, else its base name. */
export function localName(card: Card, accepted: readonly string[], marketLanguage: string | undefined): { name: string; locale: string } {
  const named = (tag: string) => card.names?.[tag] ?? (tag === BASE_LANGUAGE ? card.name : undefined);
  for (const tag of accepted) {
    const name = named(tag);
    if (name) return { name, locale: tag };
  }
  const name = marketLanguage ? named(marketLanguage) : undefined;
  if (name) return { name, locale: marketLanguage! };
  return { name: card.name, locale: BASE_LANGUAGE };
}
