// Headless Chromium for the checks that need a real browser (/docs in `npm run contract`, the /ops
// console test): Debian's package at /usr/bin/chromium (CHROMIUM_PATH overrides it), driven by
// playwright-core, with nothing of its own reaching the network. `.ci/run` installs it when missing.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  // playwright launches with a fresh user data dir of its own and removes it on close.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
