import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * The system's Chromium for the console's browser tests, driven by playwright-core:
 * Playwright's own browser download cannot reach its host from our machines, and
 * Debian's package can be installed anywhere apt can.
 */
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const INSTALL_HINT = 'apt-get update && apt-get install -y chromium   (or set CHROMIUM_PATH to a Chromium or Chrome binary)';

export const chromiumPath: string | undefined = CANDIDATES.find((p): p is string => Boolean(p) && existsSync(p!));

/**
 * Without a browser the tests cannot run: under CI that fails the run (CI always
 * installs one, .ci/run), elsewhere the tests are reported as skipped, with a
 * banner that says they did not run and how to make them run.
 */
export function browserOrReport(file: string): string | undefined {
  if (chromiumPath) return chromiumPath;
  const message = `No Chromium found (${CANDIDATES.filter(Boolean).join(', ')}): the browser tests of ${file} are NOT RUN.\nInstall one: ${INSTALL_HINT}`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${message}\nCI=true: a missing browser fails the run.`);
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n${message}\n${bar}\n\n`);
  return undefined;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    // --no-sandbox: the tests run as root in containers, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
