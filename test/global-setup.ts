/**
 * Runs once before any suite: makes sure every cached component exists (the
 * database roots, the temporal CLI, DM, TiDB and Jaeger), so that building one on a
 * fresh machine (minutes) is not charged to a single suite's hook timeout.
 * Suites then start what they need on free ports through test/sandbox.
 *
 * It also bundles the workflows once for the whole run, from the code under
 * test, and hands the bundle to every worker the suites start (in-process or
 * as a process, DM_SWITCH_WORKFLOW_BUNDLE): each would otherwise bundle at
 * its start, 5 s of CPU and 10-25 s on a loaded machine, and the crash tests
 * start their worker again after every kill.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKFLOW_BUNDLE_ENV, writeWorkflowBundle } from '../worker/workflow-bundle.js';
import { dbRoot } from './sandbox/db.js';
import { dmBinDir } from './sandbox/dm.js';
import { jaegerBinary } from './sandbox/jaeger.js';
import { temporalBinary } from './sandbox/temporal.js';

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'dsw-workflow-bundle-'));
  const bundle = join(dir, 'workflows.js');
  await Promise.all([
    dbRoot('mysql'),
    dbRoot('mariadb', '10.11'),
    dbRoot('mariadb', '11.8'),
    temporalBinary(),
    dmBinDir({ withTidb: true }),
    jaegerBinary(),
    writeWorkflowBundle(bundle),
  ]);
  process.env[WORKFLOW_BUNDLE_ENV] = bundle;
  return async () => {
    delete process.env[WORKFLOW_BUNDLE_ENV];
    await rm(dir, { recursive: true, force: true });
  };
}
