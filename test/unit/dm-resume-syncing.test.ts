/**
 * The end of a VIP switch's freeze, on a stand-in dmctl (a script that answers as DM does and logs every call with
 * its start and end): the resume issues resume-task without reading first and returns once the task is Running in
 * Sync, also when an earlier attempt (before a crash) had resumed it already; and a read of the source asks
 * query-status without waiting for the config. Real DM's answers are covered on the real stack
 * (test/integration/crash-inside-e2e.test.ts, vip-switch-e2e.test.ts); this file pins the order and count of calls.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDmActivities } from '../../activities/dm/index.js';

let dir: string;
const CFG = 'source-id: s\nflavor: mysql\nenable-gtid: true\nfrom:\n  host: vip\n  port: 3306\n  user: dm\n';
const FAKE = (d: string) => `#!/usr/bin/env node
const fs = require('fs');
const dir = ${JSON.stringify(d)};
const cmd = process.argv[3];
const log = (what) => fs.appendFileSync(dir + '/calls.log', what + ' ' + cmd + ' ' + Date.now() + '\\n');
log('start');
setTimeout(() => {
  const stage = fs.readFileSync(dir + '/stage', 'utf8').trim();
  let out;
  if (cmd === 'config') out = { result: true, msg: '', cfg: ${JSON.stringify(CFG)} };
  else if (cmd === 'query-status') {
    // DM shows a resumed task Paused for one more read: the worker applies the stage after the master answers
    const seen = fs.existsSync(dir + '/applying') ? (fs.rmSync(dir + '/applying'), 'Paused') : stage;
    const sub = { name: 't', stage: seen, unit: 'Sync', result: null, sync: { syncerBinlogGtid: 'u:1-5' } };
    out = { result: true, msg: '', sources: [{ result: true, msg: '', sourceStatus: { source: 's', worker: 'w1' },
      subTaskStatus: [sub] }] };
  } else if (cmd === 'resume-task') {
    if (stage === 'Running') out = JSON.parse(fs.readFileSync(dir + '/answer-running', 'utf8'));
    else {
      fs.writeFileSync(dir + '/stage', 'Running');
      fs.writeFileSync(dir + '/applying', '');
      out = { result: true, msg: '', sources: [{ result: true, msg: '', source: 's', worker: 'w1' }] };
    }
  } else out = { result: false, msg: 'unexpected ' + cmd };
  console.log(JSON.stringify(out));
  log('end');
}, 150);
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-resume-'));
  await writeFile(join(dir, 'dmctl'), FAKE(dir));
  await chmod(join(dir, 'dmctl'), 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));
beforeEach(async () => {
  await writeFile(join(dir, 'calls.log'), '');
  await rm(join(dir, 'applying'), { force: true });
});

/** Runs an activity as Temporal would (heartbeats, cancellation), typed by what it returns. */
const run = <R>(fn: () => Promise<R>): Promise<R> => new MockActivityEnvironment().run(fn);
const acts = () => createDmActivities({ default: { masterAddr: '127.0.0.1:1', dmctl: join(dir, 'dmctl') } });
const calls = async () =>
  (await readFile(join(dir, 'calls.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, cmd, at] = l.split(' ');
      return { what: what!, cmd: cmd!, at: Number(at) };
    });
const started = async () => (await calls()).filter((c) => c.what === 'start').map((c) => c.cmd);
const req = { dmCluster: 'default', sourceId: 's', tasks: ['t'], timeoutSeconds: 10, syncTimeoutSeconds: 10 };

describe('dmResumeTasksSyncing', () => {
  it('given a paused task, should issue resume-task first (no read before it) and return once it is Running in Sync', async () => {
    await writeFile(join(dir, 'stage'), 'Paused');
    const tasks = await run(() => acts().dmResumeTasksSyncing(req));
    expect(tasks.map((t) => `${t.name} ${t.stage}/${t.unit}`)).toEqual(['t Running/Sync']);
    // resume-task, then reads (config and status) until Running: the first read still sees Paused
    const order = await started();
    expect(order[0]).toBe('resume-task');
    expect(order.filter((c) => c === 'resume-task')).toHaveLength(1);
    expect(order.filter((c) => c === 'query-status')).toHaveLength(2);
  });

  it.each([
    ['refuses it', { result: false, msg: '', sources: [{ result: false, msg: 'task t is Running', source: 's' }] }],
    ['answers success', { result: true, msg: '', sources: [{ result: true, msg: '', source: 's' }] }],
  ])(
    'given the task already Running (resumed by an attempt before a crash) and DM that %s, should succeed, reporting it Running',
    async (_, answer) => {
      await writeFile(join(dir, 'stage'), 'Running');
      await writeFile(join(dir, 'answer-running'), JSON.stringify(answer));
      const tasks = await run(() => acts().dmResumeTasksSyncing(req));
      expect(tasks.map((t) => `${t.name} ${t.stage}/${t.unit}`)).toEqual(['t Running/Sync']);
      expect((await started())[0]).toBe('resume-task');
    },
  );
});

describe('a read of the source (config and query-status)', () => {
  it('should ask query-status before the config is answered, not after', async () => {
    await writeFile(join(dir, 'stage'), 'Running');
    const s = await run(() => acts().dmSourceState({ dmCluster: 'default', sourceId: 's' }));
    expect(s.from.host).toBe('vip');
    expect(s.tasks.map((t) => t.stage)).toEqual(['Running']);
    const log = await calls();
    const configEnd = log.find((c) => c.what === 'end' && c.cmd === 'config')!.at;
    const statusStart = log.find((c) => c.what === 'start' && c.cmd === 'query-status')!.at;
    expect(statusStart).toBeLessThan(configEnd);
  });
});
