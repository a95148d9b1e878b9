/**
 * Test harness: headless Chromium from the distribution's `chromium` package, driven by
 * `puppeteer-core` (which never downloads a browser). `launchBrowser()` answers why it cannot
 * when there is no Chromium, so browser tests skip with that reason instead of failing.
 *
 * @module
 */

import puppeteer, { type Browser, type Page } from "puppeteer-core";

export type { Browser, Page };

/** Where Debian's `chromium` package puts the browser (`.ci/run` installs it as root). */
export const CHROMIUM = Deno.env.get("QUORUMQ_CHROMIUM") ?? "/usr/bin/chromium";

/** Why a browser cannot be had here, or undefined when it can. */
export async function browserMissing(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
    return undefined;
  } catch {
    return `${CHROMIUM} is missing: install Debian's chromium package (as root, .ci/run does)`;
  }
}

/** A headless Chromium with a fresh profile; `close()` ends it and removes the profile. */
export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "quorumq-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Nothing reaches the internet: no updates, sync, QUIC probes or first-run pages.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
    timeout: 30_000,
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Where screenshots go: `QUORUMQ_UI_SCREENSHOTS` (e.g. `docs/ui` to refresh the README's), else a
 * temporary directory that `done()` removes, so a plain test run leaves nothing behind.
 */
export async function screenshotDir(): Promise<{ dir: string; done(): Promise<void> }> {
  const chosen = Deno.env.get("QUORUMQ_UI_SCREENSHOTS");
  const dir = chosen ?? await Deno.makeTempDir({ prefix: "quorumq-ui-shots-" });
  await Deno.mkdir(dir, { recursive: true });
  return {
    dir,
    done: async () => {
      if (chosen === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A full-page screenshot at `width` px (desktop 1280, phone 390) into `dir/name.png`. */
export async function shoot(page: Page, dir: string, name: string, width = 1280): Promise<void> {
  const phone = width < 600;
  await page.setViewport({
    width,
    height: phone ? 844 : 800,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
  });
  // Let the chart take its new width and the live numbers one more update.
  await new Promise((r) => setTimeout(r, 300));
  await page.screenshot({ path: `${dir}/${name}.png` as `${string}.png`, fullPage: true });
}
