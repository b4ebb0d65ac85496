/**
 * What the capture scripts share: a function that runs one dmctl command against the sandbox's DM and writes what
 * it printed (arguments, exit code, stdout, stderr) to test/fixtures/dmctl/<name>.json, with this run's temporary
 * paths and ports replaced so that fixtures do not depend on the run.
 */
import { execa } from 'execa';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DmCluster } from '../../test/sandbox/dm.js';

export const FIXTURES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/dmctl');

export async function dmctlCapture(dm: DmCluster): Promise<(name: string, args: string[]) => Promise<void>> {
  await mkdir(FIXTURES_DIR, { recursive: true });
  return async (name, args) => {
    const r = await execa(dm.dmctlPath, [`--master-addr=${dm.masterAddr}`, ...args], { reject: false });
    const clean = (t: string) => t.replaceAll(dm.dir, '/tmp/dm').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT');
    const fixture = { args: args.map(clean), exitCode: r.exitCode, stdout: clean(r.stdout), stderr: clean(r.stderr) };
    await writeFile(join(FIXTURES_DIR, `${name}.json`), `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`captured ${name} (exit ${r.exitCode})`);
  };
}
