/**
 * The programs the worker runs see none of its secrets (they need none, and may log what they get): a VIP
 * provider command and dmctl, both replaced here by scripts that write their
 * whole environment to a file, run with the worker's secrets set.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';
import { CommandVipProvider } from '../../activities/vip-command.js';

const SECRETS = {
  DM_UPSTREAM_PASSWORD: 'upstream-s3cret',
  DM_SWITCH_CODEC_KEY: 'codec-s3cret',
  TEMPORAL_API_KEY: 'temporal-s3cret',
  DM_SWITCH_WEBHOOK_TOKEN: 'webhook-s3cret',
  AWS_PROFILE: 'ops',
};
let dir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-child-env-'));
  for (const [k, v] of Object.entries(SECRETS)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  // each script writes its environment, then answers as its real counterpart would
  await writeFile(join(dir, 'locate.sh'), `env > "${dir}/locate.env"\necho 198.51.100.1\n`);
  await writeFile(
    join(dir, 'dmctl'),
    `#!/bin/sh\nenv > "${dir}/dmctl.env"\necho '{"result": false, "msg": "source not exist"}'\n`,
    { mode: 0o755 },
  );
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(dir, { recursive: true, force: true });
});

const leaked = (env: string) =>
  Object.entries(SECRETS).filter(([k, v]) => k !== 'AWS_PROFILE' && (env.includes(v) || env.includes(`${k}=`)));

describe("child processes' environment", () => {
  it('given secrets in the worker environment, should run a VIP provider command with PATH and its configured variables only', async () => {
    const p = new CommandVipProvider({
      name: 'p',
      locate: ['bash', join(dir, 'locate.sh')],
      move: ['true'],
      env: { PROVIDER_REGION: 'eu-1' },
      passEnv: ['AWS_PROFILE'],
    });
    expect(await p.locate('198.51.100.100', [])).toBe('198.51.100.1');
    const env = await readFile(join(dir, 'locate.env'), 'utf8');
    expect(leaked(env)).toEqual([]);
    expect(env).toMatch(/^PATH=/m);
    expect(env).toMatch(/^PROVIDER_REGION=eu-1$/m);
    expect(env).toMatch(/^AWS_PROFILE=ops$/m);
    expect(env).toMatch(/^DM_SWITCH_VIP=198\.51\.100\.100$/m);
  });

  it('given secrets in the worker environment, should run dmctl without them', async () => {
    const dm = createDmActivities({ c: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'dmctl') } });
    await expect(dm.dmFindSource({ dmCluster: 'c', sourceId: 's' })).resolves.toBeNull();
    const env = await readFile(join(dir, 'dmctl.env'), 'utf8');
    expect(leaked(env)).toEqual([]);
    expect(env).not.toMatch(/^AWS_PROFILE=/m);
    expect(env).toMatch(/^PATH=/m);
  });
});
