/**
 * `npm run screenshots`: regenerates the two Web UI screenshots docs/operating.md shows,
 * docs/ui-approval.png (a switch waiting at its gate, with its current
 * details) and docs/ui-list.png (the list filtered by search attribute).
 *
 * They are taken by the Web UI test itself (test/integration/web-ui.test.ts)
 * on the real stack, so they show what the test asserts; this runs that test
 * with DM_SWITCH_README_SCREENSHOTS=docs. Needs what the test needs: root
 * (the VIP lab), Debian's chromium, the cached DM/TiDB/temporal builds.
 */
import { execa } from 'execa';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.env.DM_SWITCH_README_SCREENSHOTS ?? 'docs';
const started = Date.now();
const run = await execa('npx', ['vitest', 'run', 'test/integration/web-ui.test.ts'], {
  cwd: repoRoot,
  env: { DM_SWITCH_README_SCREENSHOTS: dir },
  stdio: 'inherit',
  reject: false,
});
if (run.exitCode !== 0) {
  console.error(
    `ui-screenshots: the Web UI test failed (exit ${run.exitCode}); the screenshots in ${dir}/ may be missing or stale`,
  );
  process.exit(1);
}
for (const name of ['ui-approval.png', 'ui-list.png']) {
  const path = join(resolve(repoRoot, dir), name);
  const s = await stat(path);
  if (s.mtimeMs < started) {
    console.error(`ui-screenshots: ${path} was not rewritten`);
    process.exit(1);
  }
  console.log(`ui-screenshots: ${path} (${Math.round(s.size / 1024)} KiB)`);
}
