/**
 * The whole local stack in one call, for `npm start` and for test suites:
 * a Temporal dev server, a MySQL 9.7 topology (primary + replicas), a
 * downstream TiDB and a DM cluster with a GTID source on a replica and an
 * incremental task replicating the `app` schema downstream.
 *
 * Everything listens on free loopback ports and is torn down by `stop()`,
 * also when starting fails halfway.
 */
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { startDm, type DmCluster } from './dm.js';
import { startTidb, type TidbInstance } from './tidb.js';
import { createSource, startIncrementalTask } from './dm-setup.js';
import { startTemporal, type TemporalDevServer, type TemporalOptions } from './temporal.js';
import { startTemporalCluster, type TemporalCluster, type TemporalClusterOptions } from './temporal-cluster.js';
import { startTopology, waitCaughtUp, writeRows, type Topology } from './topology.js';
import { startVipLab, type VipLab } from './vip-lab.js';

/** The worker configuration that drives this stack (credentials: the sandbox's passwordless root). */
function workerConfigYaml(stack: Stack, taskQueue: string, extra: WorkerConfigExtras = {}): string {
  const lines = [`taskQueue: ${taskQueue}`];
  if (stack.dm)
    lines.push(
      'dm:',
      '  clusters:',
      `    default: { masterAddr: "${stack.dm.masterAddr}", dmctl: ${JSON.stringify(stack.dm.dmctlPath)} }`,
    );
  lines.push('credentials:', '  sandbox-root: { user: root, hosts: [127.0.0.0/8, 198.51.100.0/24, localhost] }');
  if (stack.vipLab) {
    const lab = stack.vipLab;
    const env = { ...lab.env, ...(extra.vipMoveLog ? { DSW_LAB_MOVE_LOG: extra.vipMoveLog } : {}) };
    lines.push(
      'vip:',
      '  providers:',
      `    default: { type: command, locate: ${JSON.stringify(lab.locateCommand)}, move: ${JSON.stringify(lab.moveCommand)}, check: ${JSON.stringify(lab.checkCommand)}, env: ${JSON.stringify(env)} }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface WorkerConfigExtras {
  /** A file the lab's VIP move command appends one line to per real move. */
  vipMoveLog?: string;
}

export interface StackOptions {
  temporal?: boolean | TemporalOptions;
  /**
   * A real Temporal cluster (the server on PostgreSQL, test/sandbox/temporal-cluster.ts)
   * instead of the dev server; `temporal` is then ignored.
   */
  temporalCluster?: boolean | TemporalClusterOptions;
  /** Replicas besides the primary (default 2); 0 or false for no MySQL at all. */
  mysql?: false | { replicas?: number };
  /** A DM cluster with a source on replica 1 and a task to the downstream (needs mysql). */
  dm?: boolean;
  /** dm-workers to start (default 1). */
  dmWorkers?: number;
  /**
   * Put the MySQL hosts in a VIP lab (network namespaces, needs root) and let
   * the DM source read through the VIP, which starts on replica 1.
   */
  vip?: boolean;
  log?: (line: string) => void;
}

export interface Stack {
  temporal?: TemporalDevServer | TemporalCluster;
  topology?: Topology;
  /** TiDB, the downstream of the demo task. */
  downstream?: TidbInstance;
  dm?: DmCluster;
  vipLab?: VipLab;
  sourceId?: string;
  taskName?: string;
  /** A worker configuration (YAML) for this stack: its DM cluster, the sandbox's credentials and the lab's VIP provider. */
  workerConfigYaml(taskQueue?: string, extra?: WorkerConfigExtras): string;
  stop(): Promise<void>;
}

export const DEMO_SOURCE_ID = 'mysql-replica-01';
export const DEMO_TASK = 'app-to-downstream';

/**
 * The switch `npm start` offers to try (demo-switch.json, and the one-line
 * JSON it prints for the Web UI's Start Workflow form): the demo source from
 * replica 1 to replica 2 behind the VIP. Needs a stack with a VIP lab and DM.
 */
export function demoSwitchRequest(stack: Stack): VipSwitchRequest {
  const [, a, b] = stack.topology?.all() ?? [];
  if (!stack.vipLab || !stack.sourceId || !a || !b)
    throw new Error('the demo switch needs the sandbox: a VIP lab, two replicas and the DM source');
  return {
    sourceId: stack.sourceId,
    newInstance: { host: b.host, port: 3306, credentials: 'sandbox-root' },
    oldInstance: { host: a.host, port: 3306, credentials: 'sandbox-root' },
    vip: { address: stack.vipLab.vip },
    requestedBy: 'npm start demo',
    reason: 'try a switch',
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const stops: Array<() => Promise<void>> = [];
  const stack: Stack = {
    workerConfigYaml: (taskQueue = 'dm-switch', extra = {}) => workerConfigYaml(stack, taskQueue, extra),
    stop: async () => {
      for (const stop of stops.reverse()) await stop().catch((e: unknown) => log(`stopping: ${String(e)}`));
      stops.length = 0;
    },
  };
  try {
    const startingTemporal: Promise<TemporalDevServer | TemporalCluster> | undefined = options.temporalCluster
      ? startTemporalCluster(typeof options.temporalCluster === 'object' ? options.temporalCluster : {})
      : options.temporal
        ? startTemporal(typeof options.temporal === 'object' ? options.temporal : {})
        : undefined;
    const temporalP = startingTemporal
      ? startingTemporal.then((t) => {
          stops.push(() => t.destroy());
          stack.temporal = t;
          log(`temporal: ${t.address}${t.uiUrl ? `, Web UI ${t.uiUrl}` : ''}`);
        })
      : Promise.resolve();
    const replicas = options.mysql ? (options.mysql.replicas ?? 2) : 2;
    // the lab first (a second or two): DM's workers advertise its gateway, the address MySQL sees them connect from
    if (options.vip && options.mysql) {
      const lab = await startVipLab({ hosts: replicas + 1 });
      stops.push(() => lab.destroy());
      stack.vipLab = lab;
      log(`vip: lab ${lab.subnet} (namespaces ${lab.hosts.map((h) => h.netns).join(', ')}), VIP ${lab.vip}`);
    }
    const mysqlP =
      options.mysql !== false && options.mysql !== undefined
        ? (async () => {
            const placement = stack.vipLab?.hosts;
            const topo = await startTopology({ replicas, placement });
            stops.push(() => topo.destroy());
            stack.topology = topo;
            log(
              `mysql: primary ${topo.primary.host}:${topo.primary.port}, replicas ${topo.replicas.map((r) => `${r.host}:${r.port}`).join(', ')}`,
            );
          })()
        : Promise.resolve();
    const dmP = options.dm
      ? startDm({
          workers: options.dmWorkers ?? 1,
          ...(stack.vipLab ? { workerHost: stack.vipLab.gateway } : {}),
        }).then((dm) => {
          stops.push(() => dm.destroy());
          stack.dm = dm;
          log(`dm: dm-master ${dm.masterAddr} (dmctl: ${dm.dmctlPath} --master-addr=${dm.masterAddr})`);
        })
      : Promise.resolve();
    const downstreamP = options.dm
      ? startTidb().then((tidb) => {
          stops.push(() => tidb.destroy());
          stack.downstream = tidb;
          log(`downstream: TiDB ${tidb.host}:${tidb.port} (mysql -h ${tidb.host} -P ${tidb.port} -u root)`);
        })
      : Promise.resolve();
    await Promise.all([temporalP, mysqlP, dmP, downstreamP]);

    if (stack.dm && stack.topology && stack.downstream) {
      const upstream = stack.topology.replicas[0] ?? stack.topology.primary;
      await writeRows(stack.topology.primary, 3);
      await waitCaughtUp(upstream, stack.topology.primary);
      if (stack.vipLab) await stack.vipLab.assign(1);
      const through = stack.vipLab ? { host: stack.vipLab.vip, port: 3306, flavor: 'mysql' as const } : upstream;
      await createSource(stack.dm, DEMO_SOURCE_ID, through);
      await startIncrementalTask(stack.dm, DEMO_TASK, [DEMO_SOURCE_ID], stack.downstream, upstream);
      stack.sourceId = DEMO_SOURCE_ID;
      stack.taskName = DEMO_TASK;
      log(
        `dm: source ${DEMO_SOURCE_ID} reads ${through.host}:${through.port}${stack.vipLab ? ` (the VIP, now on replica1 ${upstream.host})` : ''}; task ${DEMO_TASK} replicates schema app to TiDB`,
      );
    }
    return stack;
  } catch (e) {
    await stack.stop();
    throw e;
  }
}
