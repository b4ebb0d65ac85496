/**
 * The names of the worker's private sub-directories and when their owner counts as gone (worker/private-dir.ts):
 * only on the same kernel (boot id) and PID namespace, and never when this process cannot read its own.
 */
import { describe, expect, it } from 'vitest';
import { currentOwner, ownerDirName, parseOwnerDirName, provablyGone } from '../../worker/private-dir.js';

const unusedPid = 2 ** 22 + 1; // above any pid_max: runs nothing
describe("the owner of a worker's private sub-directory", () => {
  it('given its own identity, should name it with host, boot id, PID namespace and pid and read the name back', async () => {
    const me = await currentOwner();
    expect(me.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(me.pidNs).toMatch(/^\d+$/);
    expect(parseOwnerDirName(ownerDirName(me))).toEqual(me);
  });

  it('given a name an older worker gave (the pid alone) or any other name, should not read an owner from it', () => {
    expect(parseOwnerDirName('12345')).toBeUndefined();
    expect(parseOwnerDirName('host=a,boot=b,pidns=1')).toBeUndefined();
  });

  it('given a pid that runs nothing, should call it gone only on the same boot id and PID namespace', async () => {
    const me = await currentOwner();
    const dead = { ...me, pid: unusedPid };
    expect(provablyGone(dead, me)).toBe(true);
    expect(provablyGone({ ...dead, bootId: '00000000-0000-0000-0000-000000000000' }, me)).toBe(false);
    expect(provablyGone({ ...dead, pidNs: '1' }, me)).toBe(false);
    expect(provablyGone({ ...me }, me)).toBe(false); // runs: this process
  });

  it('given a process that cannot read its boot id or PID namespace, should call nothing gone', async () => {
    const me = await currentOwner();
    for (const blind of [
      { ...me, bootId: 'unknown' },
      { ...me, pidNs: 'unknown' },
    ])
      expect(provablyGone({ ...blind, pid: unusedPid }, blind)).toBe(false);
  });
});
