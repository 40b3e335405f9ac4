// Debian's Chromium, headless, the way the browser tests drive it (contract/browser/swagger-ui.mjs,
// examples/nextjs/e2e/journey.mjs): installed by scripts/lib/chromium.sh, launched through the
// caller's playwright-core (each test project pins its own) in a fresh profile, with no
// background traffic of its own.

/** The browser binary: $CHROMIUM, or Debian's package. */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Flags for a headless run as root in a container, without sync, updates or QUIC. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium with playwright-core's `chromium` in `userDataDir`.
 * @param {import("playwright-core").BrowserType} chromium
 * @param {string} userDataDir
 * @param {{ args?: string[], viewport: { width: number, height: number } }} options
 */
export function launchHeadless(chromium, userDataDir, { args = [], viewport }) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...args],
    viewport,
  });
}
