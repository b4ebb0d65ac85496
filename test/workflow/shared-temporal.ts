/**
 * The fast tier's global setup: one Temporal dev server and one bundle of the
 * workflows for every scripted-world test file, instead of a server and a
 * bundle per file (about 15 s each on two cores). Each vitest worker slot gets
 * its own namespace (`scripted-<VITEST_POOL_ID>`): the switches run under
 * their business-key workflow IDs (dm-switch/default/src), which two files
 * running at once in one namespace would share. The server keeps its state
 * in memory (no SQLite file to write on every event: nothing here restarts
 * it). Nothing of the real stack (MySQL, DM, TiDB) is built or started here.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startTemporal } from '../sandbox/temporal.js';
import { workflowInterceptorModules, workflowsPath } from '../../worker/workflows-path.js';

/** More than the worker slots vitest runs at once (maxWorkers in vitest.config.ts). */
export const SCRIPTED_NAMESPACES = 8;

export interface ScriptedTemporal {
  address: string;
  namespacePrefix: string;
  namespaces: number;
  bundle: { code: string; sourceMap: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    scriptedTemporal: ScriptedTemporal;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const namespaces = Array.from({ length: SCRIPTED_NAMESPACES }, (_, i) => `scripted-${i + 1}`);
  const [server, bundle] = await Promise.all([
    startTemporal({ moreNamespaces: namespaces, dbFile: null }),
    // the workers' bundle as production builds it: the workflows with their interceptors (trace, source header)
    bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }),
  ]);
  project.provide('scriptedTemporal', {
    address: server.address,
    namespacePrefix: 'scripted-',
    namespaces: SCRIPTED_NAMESPACES,
    bundle: { code: bundle.code, sourceMap: bundle.sourceMap },
  });
  return () => server.destroy();
}
