/**
 * The stack most VIP-switch suites share: hosts in a VIP lab (a primary and two replicas, A and B), DM's source
 * reading through the VIP (on A), TiDB downstream, rows written and both replicas caught up, and a worker running
 * in this process on `taskQueue`. One per file (beforeAll); `stop()` stops the worker, then the stack.
 */
import type { Client } from '@temporalio/client';
import type { DbInstance } from './db.js';
import type { DmCluster } from './dm.js';
import { startStack, type Stack } from './stack.js';
import { startInProcessWorker } from './switch-harness.js';
import type { TidbInstance } from './tidb.js';
import { waitCaughtUp, writeRows } from './topology.js';
import type { VipLab } from './vip-lab.js';

export interface VipSwitchStack {
  stack: Stack;
  sourceId: string;
  taskName: string;
  lab: VipLab;
  primary: DbInstance;
  a: DbInstance;
  b: DbInstance;
  dm: DmCluster;
  tidb: TidbInstance;
  client: Client;
  stop(): Promise<void>;
}

export async function startVipSwitchStack(taskQueue: string): Promise<VipSwitchStack> {
  const stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
  try {
    const [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
    const { vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>;
    await writeRows(primary, 10);
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    const worker = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(taskQueue));
    return {
      stack,
      sourceId: stack.sourceId!,
      taskName: stack.taskName!,
      lab,
      primary,
      a,
      b,
      dm,
      tidb,
      client: worker.client,
      async stop() {
        await worker.stop();
        await stack.stop();
      },
    };
  } catch (e) {
    await stack.stop();
    throw e;
  }
}
