/**
 * A task's checkpoint-flush-interval on one source, as DM resolves it from the task's configuration: the syncer
 * config its mysql-instance names (`syncer-config-name` → `syncers.<name>`), else the instance's inline `syncer`,
 * else DM's default of 30 s (tiflow dm/config/task.go, adjust). The recorded `config task` answer
 * (test/fixtures/dmctl/config-task.json) is what DM exports: every instance names a syncer config, with the value
 * written out. dmTaskFlushIntervals is run against a dmctl that replays it.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';
import { DM_DEFAULT_CHECKPOINT_FLUSH_SECONDS, flushIntervalOf } from '../../activities/dm/task-config.js';

const fixtures = join(import.meta.dirname, '../fixtures/dmctl');
const SOURCE = 'mysql-replica-01';
let dir: string;
let taskCfg: string;
type Doc = Record<string, any>;
const recorded = () => parse(taskCfg) as Doc;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-flush-'));
  taskCfg = JSON.parse(JSON.parse(await readFile(join(fixtures, 'config-task.json'), 'utf8')).stdout).cfg as string;
  // the recorded dmctl: `config task <name>` answers task-<name>.json, or DM's "task not found"
  await writeFile(
    join(dir, 'dmctl'),
    `#!/bin/sh\nf="${dir}/task-$4.json"\n[ "$2 $3" = "config task" ] && [ -f "$f" ] && exec cat "$f"\n` +
      `echo '{"result": false, "msg": "task not found"}'\n`,
  );
  await chmod(join(dir, 'dmctl'), 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a task's checkpoint flush interval", () => {
  it('given the recorded config task answer, should read the 30 s DM wrote out, and where', () => {
    expect(flushIntervalOf(recorded(), SOURCE)).toEqual({
      seconds: 30,
      setIn: 'syncers.sync-01.checkpoint-flush-interval',
    });
  });

  it("given the sandbox's 3 s in the named syncer config, should read 3 s", () => {
    const d = recorded();
    d.syncers['sync-01']['checkpoint-flush-interval'] = 3;
    expect(flushIntervalOf(d, SOURCE).seconds).toBe(3);
  });

  it('given two sources with different syncer configs, should read the one of the source asked about', () => {
    const d = recorded();
    d['mysql-instances'].push({ ...d['mysql-instances'][0], 'source-id': 'other', 'syncer-config-name': 'sync-02' });
    d.syncers['sync-02'] = { ...d.syncers['sync-01'], 'checkpoint-flush-interval': 5 };
    expect(flushIntervalOf(d, 'other')).toEqual({ seconds: 5, setIn: 'syncers.sync-02.checkpoint-flush-interval' });
    expect(flushIntervalOf(d, SOURCE).seconds).toBe(30);
  });

  it('given a task file as written for start-task, with an inline syncer on the instance, should read it there', () => {
    const d = { name: 't', 'mysql-instances': [{ 'source-id': SOURCE, syncer: { 'checkpoint-flush-interval': 3 } }] };
    expect(flushIntervalOf(d, SOURCE)).toEqual({
      seconds: 3,
      setIn: 'mysql-instances[0].syncer.checkpoint-flush-interval',
    });
  });

  it.each([
    ['no syncer at all', (d: Doc) => delete d.syncers],
    ['a syncer config without the key', (d: Doc) => delete d.syncers['sync-01']['checkpoint-flush-interval']],
    ['the key at 0 (DM reads 0 as unset)', (d: Doc) => (d.syncers['sync-01']['checkpoint-flush-interval'] = 0)],
    ['no instance for the source', (d: Doc) => (d['mysql-instances'][0]['source-id'] = 'elsewhere')],
  ])("given %s, should say DM's default of 30 s applies", (_, change) => {
    const d = recorded();
    change(d);
    expect(flushIntervalOf(d, SOURCE)).toEqual({
      seconds: DM_DEFAULT_CHECKPOINT_FLUSH_SECONDS,
      setIn: "DM's default (the task does not set it)",
    });
    expect(DM_DEFAULT_CHECKPOINT_FLUSH_SECONDS).toBe(30);
  });

  it('given dmctl answering config task, should read each task, leaving out one DM no longer knows', async () => {
    const fast = recorded();
    fast.syncers['sync-01']['checkpoint-flush-interval'] = 3;
    const answer = (cfg: string) => JSON.stringify({ result: true, msg: '', cfg });
    await writeFile(join(dir, 'task-slow.json'), answer(taskCfg));
    await writeFile(join(dir, 'task-fast.json'), answer(stringify(fast)));
    const a = createDmActivities({ default: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'dmctl') } });
    const read = await new MockActivityEnvironment().run(a.dmTaskFlushIntervals, {
      dmCluster: 'default',
      sourceId: SOURCE,
      tasks: ['slow', 'fast', 'gone'],
    });
    expect(read).toEqual({
      slow: { seconds: 30, setIn: 'syncers.sync-01.checkpoint-flush-interval' },
      fast: { seconds: 3, setIn: 'syncers.sync-01.checkpoint-flush-interval' },
    });
  });
});
