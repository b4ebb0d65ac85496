/**
 * What a switch keeps of DM's configurations in its history: DM masks the
 * passwords of `config task`/`config source`, but shows other secrets as
 * they are. dmSaveConfigs refuses them before anything changes. dmctl here
 * replays answers recorded from the real DM (test/fixtures/dmctl), with a
 * secret added to the task's configuration as DM would show it.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';
import { yamlSecretPaths } from '../../common/switch/input.js';

const fixtures = join(import.meta.dirname, '../fixtures/dmctl');
let dir: string;
let taskCfg: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-secrets-'));
  taskCfg = JSON.parse(JSON.parse(await readFile(join(fixtures, 'config-task.json'), 'utf8')).stdout).cfg as string;
  const sourceAnswer = JSON.parse(await readFile(join(fixtures, 'config-source.json'), 'utf8')).stdout as string;
  await writeFile(join(dir, 'source.json'), sourceAnswer);
  // the recorded dmctl: `config source` as recorded, `config task` from task.json (written per case)
  await writeFile(
    join(dir, 'dmctl'),
    `#!/bin/sh\ncase "$2 $3" in\n  "config source") cat "${dir}/source.json" ;;\n  "config task") cat "${dir}/task.json" ;;\n  *) echo '{"result": false, "msg": "unexpected"}' ;;\nesac\n`,
  );
  await chmod(join(dir, 'dmctl'), 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function save(cfg: string) {
  await writeFile(join(dir, 'task.json'), JSON.stringify({ result: true, msg: '', cfg }));
  const a = createDmActivities({ default: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'dmctl') } });
  return new MockActivityEnvironment().run(a.dmSaveConfigs, {
    dmCluster: 'default',
    sourceId: 'mysql-replica-01',
    tasks: ['app-to-downstream'],
  });
}

describe('secrets DM does not mask', () => {
  it('given the recorded configurations (passwords masked), should save them', async () => {
    const saved = (await save(taskCfg)) as { tasks: Array<{ name: string }> };
    expect(saved.tasks.map((t) => t.name)).toEqual(['app-to-downstream']);
  });

  it.each([
    [
      'a TLS key inlined in the downstream',
      (d: Record<string, any>) => (d['target-database'].security = { 'ssl-key-base64': 'LS0tLS1CRUdJTi...' }),
      'target-database.security.ssl-key-base64',
    ],
    [
      'S3 credentials in a dump directory URL',
      (d: Record<string, any>) =>
        (d.loaders['load-01'].dir = 's3://bucket/dump?access-key=AKIA123&secret-access-key=abc'),
      'loaders.load-01.dir',
    ],
  ])('given %s, should refuse before anything changes, naming where and never the value', async (_, add, path) => {
    const doc = parse(taskCfg) as Record<string, any>;
    add(doc);
    const err = await save(stringify(doc)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('PreflightFailed');
    expect((err as ApplicationFailure).message).toContain(`task app-to-downstream: ${path}`);
    expect((err as ApplicationFailure).message).not.toMatch(/LS0tLS1|AKIA123|secret-access-key=abc/);
  });

  it('should tell secrets from masked and empty values', () => {
    expect(
      yamlSecretPaths(
        "a: {password: '******', secret-access-key: '', token: x}\nb: [{ssl-ca-base64: Y2E=}]\nc: 's3://x?region=us'\n",
      ),
    ).toEqual(['a.token', 'b[0].ssl-ca-base64']);
  });
});
