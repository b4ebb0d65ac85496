/**
 * Without the worker's private directory (worker/private-dir.ts), the DM
 * activities still write the files that carry a password somewhere only this
 * process owns: a fresh directory, made exclusively with a random name (mode
 * 0700), never a predictable name in the shared temporary directory that
 * another user could have made first or pointed elsewhere with a symlink.
 * dmctl here is a script that records the file it was given.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-fallback-'));
  await writeFile(
    join(dir, 'dmctl'),
    `#!/bin/sh
case "$2 $3" in
  "config source") echo '{"result": false, "msg": "source not found"}' ;;
  "operate-source create") stat -c '%a %U' "$(dirname "$4")" > "${dir}/dir-mode"; echo "$4" > "${dir}/path"; cat "$4" > "${dir}/content"; echo '{"result": true, "msg": ""}' ;;
  *) echo '{"result": false, "msg": "unexpected"}' ;;
esac
`,
  );
  await chmod(join(dir, 'dmctl'), 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the fallback private directory', () => {
  it('given no private directory, should write the password file in a fresh owner-only directory, not a predictable one', async () => {
    // what an attacker could have prepared under the old predictable name
    const predictable = join(tmpdir(), `dm-switch-private-${process.getuid?.() ?? 'user'}`);
    await mkdir(predictable, { recursive: true }).catch(() => undefined);
    const a = createDmActivities({ default: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'dmctl') } }, async () => ({
      user: 'dm',
      password: 's3cret',
    }));
    const r = await new MockActivityEnvironment().run(a.dmCreateSource, {
      dmCluster: 'default',
      sourceId: 'src',
      flavor: 'mysql' as const,
      baseConfig: null,
      from: { host: '10.0.3.17', port: 3306, credentials: 'upstream' },
    });
    expect(r).toBe('created');
    const path = (await readFile(join(dir, 'path'), 'utf8')).trim();
    expect(await readFile(join(dir, 'content'), 'utf8')).toContain('s3cret');
    expect(path.startsWith(`${predictable}/`)).toBe(false);
    expect(dirname(dirname(path))).toMatch(new RegExp(`^${tmpdir()}/dm-switch-private-[A-Za-z0-9]{6}$`));
    expect((await readFile(join(dir, 'dir-mode'), 'utf8')).trim().split(' ')[0]).toBe('700');
    expect(((await stat(dirname(dirname(path)))).mode & 0o777).toString(8)).toBe('700');
    // the file itself is gone after use
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    await rm(predictable, { recursive: true, force: true });
  });
});
