import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../worker/config.js';
import { workflowCode, workflowCodeFingerprint } from '../../worker/workflow-bundle.js';
import { workflowInterceptorModules, workflowsPath } from '../../worker/workflows-path.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dsw-bundle-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bundleFile = async (name: string, text: string) => {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
};
const refused = async (env: NodeJS.ProcessEnv) => {
  const e = await workflowCode(env).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ConfigError);
  return (e as Error).message;
};

describe('the workflow code a worker runs', () => {
  it('given no DM_SWITCH_WORKFLOW_BUNDLE, should bundle the workflow sources with their interceptors', async () => {
    expect(await workflowCode({})).toEqual({ workflowsPath, workflowModules: workflowInterceptorModules });
    expect(await workflowCode({ DM_SWITCH_WORKFLOW_BUNDLE: ' ' })).toMatchObject({ workflowsPath });
  });

  it('given a bundle marked with this code, should read it, its interceptors inside it', async () => {
    const path = await bundleFile(
      'ok.js',
      `/* dm-switch workflow bundle, code ${await workflowCodeFingerprint()} */x;`,
    );
    expect(await workflowCode({ DM_SWITCH_WORKFLOW_BUNDLE: path })).toEqual({
      workflowBundle: { codePath: path },
      workflowModules: [],
    });
  });

  it('given a bundle built from other code, should refuse to start, naming both and how to rebuild it', async () => {
    const path = await bundleFile('old.js', '/* dm-switch workflow bundle, code 0123abcd */x;');
    const msg = await refused({ DM_SWITCH_WORKFLOW_BUNDLE: path });
    expect(msg).toContain(`DM_SWITCH_WORKFLOW_BUNDLE: ${path} was built from other code (0123abcd, this worker's is `);
    expect(msg).toContain(`scripts/bundle-workflows.ts ${path}`);
  });

  it('given a file that is no marked bundle, or none at all, should refuse to start', async () => {
    const path = await bundleFile('plain.js', 'x;');
    expect(await refused({ DM_SWITCH_WORKFLOW_BUNDLE: path })).toContain(
      'is not a bundle written by scripts/bundle-workflows.ts',
    );
    expect(await refused({ DM_SWITCH_WORKFLOW_BUNDLE: join(dir, 'missing.js') })).toMatch(
      /cannot read the workflow bundle .*missing\.js: ENOENT/,
    );
  });

  it('given other workflow or common code, SDK or tracing interceptors, should see another fingerprint', async () => {
    const root = join(dir, 'code');
    const put = async (path: string, text: string) => {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), text);
    };
    await put('workflows/switch.ts', 'export const a = 1;');
    await put('common/switch/rules.ts', 'export const b = 1;');
    await put('node_modules/@temporalio/workflow/package.json', '{"version":"1.24.0"}');
    await put('node_modules/@temporalio/interceptors-opentelemetry/package.json', '{"version":"1.24.0"}');
    const first = await workflowCodeFingerprint(root);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(await workflowCodeFingerprint(root)).toBe(first);
    await put('README.md', 'not code');
    expect(await workflowCodeFingerprint(root)).toBe(first);
    await put('common/switch/rules.ts', 'export const b = 2;');
    const second = await workflowCodeFingerprint(root);
    expect(second).not.toBe(first);
    await put('workflows/switch.ts', 'export const a = 2;');
    const third = await workflowCodeFingerprint(root);
    expect(third).not.toBe(second);
    await put('node_modules/@temporalio/workflow/package.json', '{"version":"1.25.0"}');
    const fourth = await workflowCodeFingerprint(root);
    expect(fourth).not.toBe(third);
    // the tracing interceptors are bundled with the workflows too
    await put('node_modules/@temporalio/interceptors-opentelemetry/package.json', '{"version":"1.25.0"}');
    expect(await workflowCodeFingerprint(root)).not.toBe(fourth);
  });
});
