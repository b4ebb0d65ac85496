/**
 * What the dm-switch command says, run as an operator runs it (client/cli.ts's
 * main, in this process) against switches of a SCRIPTED world
 * (scripted-world.ts) on the fast tier's Temporal: who asked (the person
 * running the command, not the request file), what a switch that has ended
 * answers to approve/reject/cancel, and the NEXT line that fits each way a
 * switch stops. The scripted faults stand for what real components produce
 * (the real-stack tests produce them for real); the CLI and the workflow are
 * the real ones.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Worker, NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../client/cli.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { fakeWorld, input, scriptedServer, useScriptedTemporal, type ScriptedFaults } from './scripted-world.js';

const temporal = useScriptedTemporal();
const ID = 'dm-switch/default/src';

/** This file's own worker: every scripted activity, each the one of the world the running test set. */
let world: ReturnType<typeof fakeWorld> = fakeWorld();
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let connection: NativeConnection | undefined;
let dir: string;
const queue = `cli-words-${process.pid}`;
const saved = { address: process.env.TEMPORAL_ADDRESS, namespace: process.env.TEMPORAL_NAMESPACE };

beforeAll(async () => {
  const { address, namespace, bundle } = scriptedServer();
  process.env.TEMPORAL_ADDRESS = address;
  process.env.TEMPORAL_NAMESPACE = namespace;
  dir = await mkdtemp(join(tmpdir(), 'dsw-cli-words-'));
  const names = Object.keys(fakeWorld().activities);
  const activities = Object.fromEntries(
    names.map((n) => [
      n,
      (...args: unknown[]) => (world.activities as Record<string, (...a: unknown[]) => unknown>)[n]!(...args),
    ]),
  );
  connection = await NativeConnection.connect({ address });
  worker = await Worker.create({ connection, namespace, taskQueue: queue, workflowBundle: bundle, activities });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
  await rm(dir, { recursive: true, force: true });
  for (const [k, v] of [
    ['TEMPORAL_ADDRESS', saved.address],
    ['TEMPORAL_NAMESPACE', saved.namespace],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** `dm-switch <args>` as typed, in this process: exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--task-queue', queue, ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
    process.exitCode = undefined;
  }
}

/** A request file as an operator keeps one; flags override it. */
async function requestFile(over: Record<string, unknown> = {}): Promise<string> {
  const file = join(dir, `req-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ ...input(), ...over }));
  return file;
}

const status = () => temporal.client().workflow.getHandle(ID).query(statusQuery) as Promise<SwitchStatus>;
const ended = () =>
  temporal
    .client()
    .workflow.getHandle(ID)
    .result()
    .catch(() => undefined);
async function pending(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await status().catch(() => null))?.approvals.some((a) => a.state === 'pending')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no gate became pending');
}
const nextLine = (text: string) =>
  text
    .split('\n')
    .find((l) => l.trimStart().startsWith('NEXT:'))
    ?.trim() ?? '';

describe('who asked', () => {
  it("given --file with someone else's requestedBy, should record the person running the command and keep the file's as a note", async () => {
    world = fakeWorld();
    const file = await requestFile({ requestedBy: 'npm start demo', reason: 'the demo switch' });
    const r = await cli('start', 'vip', '--file', file, '--wait');
    expect(r.code, r.err).toBe(0);
    const me = userInfo().username;
    const s = await status();
    expect(s.requestedBy).toBe(me);
    expect(s.reason).toBe('the demo switch (the request file said requestedBy: npm start demo)');
    const d = await temporal.client().workflow.getHandle(ID).describe();
    expect(await d.staticDetails()).toBe(
      `requested by: ${me}\nreason: the demo switch (the request file said requestedBy: npm start demo)`,
    );
    const shown = await cli('status', ID);
    expect(shown.out).toContain(
      `requested by ${me}: the demo switch (the request file said requestedBy: npm start demo)`,
    );
  });

  it('given --by, should record that name; the same name in the file adds no note', async () => {
    world = fakeWorld();
    const file = await requestFile({ requestedBy: 'ana' });
    expect((await cli('start', 'vip', '--file', file, '--by', 'ana', '--wait')).code).toBe(0);
    const s = await status();
    expect(s.requestedBy).toBe('ana');
    expect(s.reason).toBeUndefined();
  });
});

describe('a switch that has ended', () => {
  it('given approve, reject or cancel of an ended switch, should say it ended, how and when, not that there is no such switch', async () => {
    world = fakeWorld({ purgedBeyond: true });
    expect((await cli('start', 'vip', '--file', await requestFile(), '--wait')).code).toBe(1);
    const d = await temporal.client().workflow.getHandle(ID).describe();
    const closed = d.closeTime!.toISOString();
    for (const args of [
      ['approve', 'src'],
      ['reject', 'src', '--comment', 'no'],
      ['cancel', 'src'],
    ]) {
      const r = await cli(...args);
      console.log(`dm-switch ${args.join(' ')} → exit ${r.code}: ${r.err.trim()}`);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.err).toBe(
        `dm-switch: ${ID} has ended: refused (workflow failed) at ${closed}, started ${d.startTime.toISOString()}; ` +
          `an ended switch takes no approval, rejection or cancellation. What it did: dm-switch status ${ID}; to ` +
          'switch again, start a new one\n',
      );
      expect(r.err).not.toMatch(/no such switch/);
    }
    // and it is shown
    const shown = await cli('status', 'src');
    expect(shown.out).toMatch(/finished: refused/);
    // one that never existed is still "no such switch"
    expect((await cli('approve', 'never-switched')).err).toMatch(/no such switch: dm-switch\/default\/never-switched/);
  });
});

type Case = {
  name: string;
  faults?: ScriptedFaults;
  args?: string[];
  file?: Record<string, unknown>;
  /** What the operator does while it runs. */
  during?: () => Promise<void>;
  outcome: 'refused' | 'rolled-back';
  type: string;
  next: RegExp;
};
const CASES: Case[] = [
  {
    name: 'the GTID rules refuse',
    faults: { purgedBeyond: true },
    outcome: 'refused',
    type: 'GtidRefused',
    next: /^NEXT: nothing was changed; DM's source src is as it was\. Refused because .*\. The new instance new\.example:3306 cannot continue DM's position \(the GTID sets above\): choose an instance that has every transaction DM applied/,
  },
  {
    name: 'a precondition fails (old and new the same server)',
    args: ['--old', 'new.example'],
    outcome: 'refused',
    type: 'PreflightFailed',
    next: /^NEXT: nothing was changed; DM's source src is as it was\. Refused because old and new instance are the same server .*\. Fix the precondition the reason names, on the server it names \(or choose another new instance than new\.example:3306\)/,
  },
  {
    name: 'the new instance never catches up',
    faults: { newLagsForever: true },
    outcome: 'rolled-back',
    type: 'CatchUpTimeout',
    next: /^NEXT: every change was undone, and the state checked: .*\. The new instance new\.example:3306 did not catch up with DM's position in time: check its replication \(SHOW REPLICA STATUS/,
  },
  {
    name: 'verification fails after the resume',
    faults: { resumeLeavesError: true },
    outcome: 'rolled-back',
    type: 'VerificationFailed',
    next: /^NEXT: every change was undone.*After resuming, DM did not replicate from the new instance new\.example:3306 as it should/,
  },
  {
    name: 'a person rejects before any change',
    args: ['--gates', 'before-freeze'],
    during: async () => {
      await pending();
      expect((await cli('reject', 'src', '--by', 'ana', '--comment', 'not during the sale')).code).toBe(0);
    },
    outcome: 'refused',
    type: 'Rejected',
    next: /^NEXT: nothing was changed; DM's source src is as it was\. Refused because rejected before any change, nothing to undo: rejected by ana at gate before-freeze: not during the sale\. A person rejected it at a gate \(who, and why, under approvals\)\. Start it again only once what they objected to is settled\.$/,
  },
  {
    name: 'nobody decides a gate in time',
    args: ['--gates', 'before-freeze', '--approval-timeout', '10'],
    outcome: 'refused',
    type: 'ApprovalTimedOut',
    next: /^NEXT: nothing was changed; DM's source src is as it was\. Refused because .*\. Nobody decided the gate in time: start the switch again when an approver is at hand/,
  },
  {
    name: 'the operator cancels while a gate waits after the pause',
    args: ['--gates', 'before-switch'],
    during: async () => {
      await pending();
      expect((await cli('cancel', 'src')).code).toBe(0);
    },
    outcome: 'rolled-back',
    type: 'cancelled',
    next: /^NEXT: every change was undone.*Stopped \(cancelled\).*It was cancelled \(dm-switch cancel, or the Temporal UI\): start it again when it is wanted\.$/,
  },
];

describe('NEXT fits why the switch stopped', () => {
  for (const c of CASES) {
    it(`given ${c.name} (${c.type}), should give its own next step`, async () => {
      world = fakeWorld(c.faults ?? {});
      const file = await requestFile(c.file ?? {});
      const started = cli('start', 'vip', '--file', file, ...(c.args ?? []), ...(c.during ? [] : ['--wait']));
      if (c.during) {
        expect((await started).code).toBe(0);
        await c.during();
        await ended();
      } else {
        expect((await started).code).toBe(1);
      }
      const s = await status();
      expect(s.outcome).toBe(c.outcome);
      const shown = await cli('status', 'src');
      const next = nextLine(shown.out);
      console.log(`${c.type}: ${next}`);
      expect(next).toMatch(c.next);
      expect(next).not.toMatch(/Fix that/);
      expect(s.failureType).toBe(c.type);
    });
  }
});
