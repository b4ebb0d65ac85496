/**
 * A dmctl the worker cannot run is said as such: at start (checkDmctl stops
 * the worker with the key and the path) and, should it vanish later, in the
 * activity's failure (not "dmctl: no output").
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';
import { checkDmctl, ConfigError, parseWorkerConfig } from '../../worker/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-dmctl-'));
  await writeFile(join(dir, 'dmctl'), '#!/bin/sh\necho "{}"\n');
  await chmod(join(dir, 'dmctl'), 0o755);
  await writeFile(join(dir, 'plain-file'), 'not a program');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const config = (dmctl: string) =>
  parseWorkerConfig(`
dm:
  clusters:
    default: { masterAddr: "127.0.0.1:8261", dmctl: ${JSON.stringify(dmctl)} }
`);

describe('checkDmctl', () => {
  it('given an executable dmctl by path or by name on PATH, should pass', async () => {
    await expect(checkDmctl(config(join(dir, 'dmctl')))).resolves.toBeUndefined();
    await expect(checkDmctl(config('dmctl'), `/nonexistent:${dir}`)).resolves.toBeUndefined();
  });

  it.each([
    [
      'a path that does not exist',
      () => join(dir, 'nope'),
      undefined,
      /dm\.clusters\.default\.dmctl: .*nope does not exist; give the path of DM's dmctl binary/,
    ],
    ['a file that is not executable', () => join(dir, 'plain-file'), undefined, /plain-file is not executable/],
    ['a name not on PATH', () => 'dmctl', '/nonexistent', /"dmctl" on PATH \(\/nonexistent\) is not found/],
  ])('given %s, should stop the worker naming the key and the path', async (_, dmctl, path, message) => {
    const err = await checkDmctl(config(dmctl()), path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('dmctl activity', () => {
  it('given a dmctl that is not there, should fail saying so and where it is configured (retryable), not "no output"', async () => {
    const acts = createDmActivities({ default: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'gone') } });
    const err = (await new MockActivityEnvironment()
      .run(() => acts.dmSourceState({ dmCluster: 'default', sourceId: 's' }))
      .catch((e: unknown) => e)) as Error & { nonRetryable?: boolean };
    expect(err.message).toMatch(
      /dmctl cannot be run: .*gone is not found \(dm\.clusters\.default\.dmctl in the worker's configuration\)/,
    );
    expect(err.message).not.toMatch(/no output/);
    expect(err.nonRetryable).toBe(false);
  });
});
