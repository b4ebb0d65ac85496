/**
 * The workflow code a worker runs. By default the worker bundles workflows/ with webpack when it starts (several
 * seconds of CPU at every start). DM_SWITCH_WORKFLOW_BUNDLE names a bundle built beforehand from the same code
 * (`node --import tsx scripts/bundle-workflows.ts <file>`), which the worker reads instead: a worker that is started
 * often (a container restarted, the tests' workers killed and started again) then starts in about a second.
 *
 * The bundle carries a fingerprint of the code it was built from (every .ts file of workflows/ and common/, and the
 * versions of the Temporal workflow SDK and its tracing interceptors); the worker compares it with its own code and
 * refuses to start on a bundle built from other code, which would run other workflow code than the activities and
 * replay expect.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config.js';
import { workflowInterceptorModules, workflowsPath } from './workflows-path.js';

export const WORKFLOW_BUNDLE_ENV = 'DM_SWITCH_WORKFLOW_BUNDLE';

const codeRoot = fileURLToPath(new URL('..', import.meta.url));
const MARK = /^\/\* dm-switch workflow bundle, code (\S+) \*\//;

/** A digest of the code a bundle is made of: the workflow and common sources, and the workflow SDK's version. */
export async function workflowCodeFingerprint(root = codeRoot): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'common']) {
    const files = (await readdir(join(root, dir), { recursive: true }))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(root, dir, f))
      .sort();
    for (const f of files)
      hash
        .update(`${relative(root, f)}\0`)
        .update(await readFile(f))
        .update('\0');
  }
  const sdk = join(root, 'node_modules/@temporalio/workflow/package.json');
  hash.update(`sdk ${(JSON.parse(await readFile(sdk, 'utf8')) as { version: string }).version}`);
  // the tracing interceptors bundled with the workflows (workflows/tracing.ts)
  const otel = join(root, 'node_modules/@temporalio/interceptors-opentelemetry/package.json');
  hash.update(` otel ${(JSON.parse(await readFile(otel, 'utf8')) as { version: string }).version}`);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Bundles the workflows (with their interceptors) into `path`, marked with the code's fingerprint. The mark is a
 * comment on the bundle's first line, so the source map's lines stay right.
 */
export async function writeWorkflowBundle(path: string): Promise<void> {
  const [{ code }, fingerprint] = await Promise.all([
    bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }),
    workflowCodeFingerprint(),
  ]);
  await writeFile(path, `/* dm-switch workflow bundle, code ${fingerprint} */${code}`);
}

export type WorkflowCode =
  | { workflowsPath: string; workflowModules: string[] }
  | { workflowBundle: { codePath: string }; workflowModules: string[] };

/**
 * The workflow part of the worker's options: the bundle named by DM_SWITCH_WORKFLOW_BUNDLE once checked against this
 * code, or the sources (bundled by Worker.create) and the interceptor modules to bundle with them.
 */
export async function workflowCode(env: NodeJS.ProcessEnv): Promise<WorkflowCode> {
  const path = env[WORKFLOW_BUNDLE_ENV]?.trim();
  if (!path) return { workflowsPath, workflowModules: workflowInterceptorModules };
  const head = await readFile(path, 'utf8').then(
    (text) => text.slice(0, 200),
    (e: Error) => {
      throw new ConfigError(`${WORKFLOW_BUNDLE_ENV}: cannot read the workflow bundle ${path}: ${e.message}`);
    },
  );
  const built = MARK.exec(head)?.[1];
  const ours = await workflowCodeFingerprint();
  if (built !== ours) {
    const what = built
      ? `was built from other code (${built}, this worker's is ${ours})`
      : 'is not a bundle written by scripts/bundle-workflows.ts';
    throw new ConfigError(
      `${WORKFLOW_BUNDLE_ENV}: ${path} ${what}; build it again from this code ` +
        `(node --import tsx scripts/bundle-workflows.ts ${path}) or unset ${WORKFLOW_BUNDLE_ENV}`,
    );
  }
  // its interceptors are in it (writeWorkflowBundle)
  return { workflowBundle: { codePath: path }, workflowModules: [] };
}
