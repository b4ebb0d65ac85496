/**
 * `npm start`: the whole local stack on local defaults, in the foreground.
 *
 *   - Temporal dev server on 127.0.0.1:7233, Web UI on http://127.0.0.1:8233,
 *     history kept in ~/.local/state/dm-switch/temporal.sqlite across restarts;
 *   - the worker (task queue dm-switch), running the switch workflows;
 *   - the demo sandbox (unless --no-sandbox): a MySQL 9.7 primary and two
 *     replicas in network namespaces behind a real VIP, TiDB downstream, and a
 *     DM cluster whose GTID source `mysql-replica-01` reads through the VIP;
 *     a ready-to-run switch input is written to the state directory;
 *   - the alert webhook on 127.0.0.1:9095 with a policy for the demo source
 *     (token in the state directory) and a demo alert to post.
 *
 * With --no-sandbox the worker uses DM_SWITCH_CONFIG (a missing file stops the
 * start; without the variable no worker runs, and it says so loudly).
 *
 * Ctrl-C, or SIGINT or SIGTERM to the npm process (package.json's "start"
 * execs node, so npm's signal reaches this process), stops everything it
 * started; nothing is left running.
 *
 * The console: one line per event (worker/console-log.ts); --verbose or
 * DM_SWITCH_LOG_DETAILS=1 for every field. Once up it prints a banner of
 * where everything is, kept in banner.txt in the state directory.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, type LogLevel, type NativeConnection, type Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { stringify } from 'yaml';
import { parsePolicy } from '../client/policy.js';
import { createWebhook, loadSecrets } from '../client/webhook.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { switchWorkflowId } from '../common/switch/ids.js';
import { temporalBinary } from '../test/sandbox/temporal.js';
import { demoSwitchRequest, startStack, type Stack } from '../test/sandbox/stack.js';
import { checkDmctl, loadWorkerConfig, parseWorkerConfig, type WorkerConfig } from '../worker/config.js';
import { consoleLogLine, logDetails } from '../worker/console-log.js';
import { jsonLogLine } from '../worker/observability.js';
import { createWorker } from '../worker/worker.js';
import { BANNER_FILE, startBanner, type BannerInfo } from './start-banner.js';

const { values } = parseArgs({
  options: {
    sandbox: { type: 'boolean', default: true },
    'no-sandbox': { type: 'boolean', default: false },
    port: { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8233' },
    'webhook-port': { type: 'string', default: '9095' },
    state: { type: 'string', default: process.env.DM_SWITCH_STATE ?? join(homedir(), '.local/state/dm-switch') },
    verbose: { type: 'boolean', short: 'v', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm start [-- --no-sandbox] [--port 7233] [--ui-port 8233] [--webhook-port 9095] [--state DIR]
                 [--verbose]

Starts a Temporal dev server (history kept in DIR/temporal.sqlite) and, unless
--no-sandbox, the demo sandbox: MySQL primary + 2 replicas, a downstream and a
DM cluster with source mysql-replica-01 and a running task. Ctrl-C stops all.
The worker logs one line per event; --verbose (or DM_SWITCH_LOG_DETAILS=1)
logs every field as JSON, the workflow bundle's statistics included.`);
  process.exit(0);
}
const level = (process.env.DM_SWITCH_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
if (!['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level)) {
  console.error(`[dm-switch] DM_SWITCH_LOG_LEVEL must be TRACE, DEBUG, INFO, WARN or ERROR, not ${level}`);
  process.exit(2);
}
const details = values.verbose || logDetails();
Runtime.install({
  logger: new DefaultLogger(level, (entry) => {
    const line = details ? jsonLogLine(entry) : consoleLogLine(entry);
    if (line !== undefined) process.stdout.write(`${line}\n`);
  }),
});
const withSandbox = values.sandbox && !values['no-sandbox'];
await mkdir(values.state, { recursive: true });
const log = (line: string) => console.log(`[dm-switch] ${line}`);

let stack: Stack | undefined;
let worker: { worker: Worker; connection: NativeConnection; running: Promise<void> } | undefined;
let webhook: { app: FastifyInstance; client: Client } | undefined;
let stopping: number | undefined;
async function shutdown(code: number): Promise<never> {
  if (stopping === undefined) {
    stopping = Date.now();
    log('stopping everything…');
    if (webhook) {
      await webhook.app.close();
      await webhook.client.connection.close();
    }
    if (worker) {
      // the SDK's own SIGINT handler may have begun the shutdown already
      if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
      await worker.running.catch(() => undefined);
      await worker.connection.close();
    }
    await stack?.stop();
    log('stopped');
  }
  process.exit(code);
}
// A terminal's Ctrl-C reaches this process twice: from the terminal (to the whole process group) and forwarded
// by npm. A signal within 2 s of the first is that same one; a later one quits at once, as before.
function onSignal(): void {
  if (stopping !== undefined && Date.now() - stopping < 2000) return;
  void shutdown(0);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** The demo alert: what Alertmanager posts when replica 1 goes down (demo-alert.json). */
function demoAlert(sourceId: string) {
  return {
    version: '4',
    status: 'firing',
    receiver: 'dm-switch',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: '',
    groupKey: 'demo',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'MySQLReplicaDown', dm_source: sourceId },
        annotations: { summary: 'demo: replica1 is down' },
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: 'demo0001',
      },
    ],
  };
}

try {
  const t0 = Date.now();
  stack = await startStack({
    temporal: {
      ui: true,
      port: Number(values.port),
      uiPort: Number(values['ui-port']),
      dbFile: join(values.state, 'temporal.sqlite'),
      logFile: join(values.state, 'temporal.log'),
    },
    mysql: withSandbox ? { replicas: 2 } : false,
    dm: withSandbox,
    vip: withSandbox,
    log,
  });

  // The worker: the sandbox's own configuration, or DM_SWITCH_CONFIG without it.
  let config: WorkerConfig | undefined;
  if (withSandbox) {
    const path = join(values.state, 'worker.yaml');
    await writeFile(path, stack.workerConfigYaml());
    config = parseWorkerConfig(stack.workerConfigYaml(), path);
    log(`worker configuration: ${path}`);
  } else if (process.env.DM_SWITCH_CONFIG) {
    if (!existsSync(process.env.DM_SWITCH_CONFIG)) {
      throw new Error(
        `DM_SWITCH_CONFIG is ${process.env.DM_SWITCH_CONFIG}, which does not exist; give the path of your worker ` +
          'configuration (docs/deploying.md, "Running the worker against your own DM")',
      );
    }
    config = await loadWorkerConfig(process.env.DM_SWITCH_CONFIG);
    await checkDmctl(config);
    log(`worker configuration: ${process.env.DM_SWITCH_CONFIG}`);
  } else {
    log('NO WORKER: without the sandbox the worker needs your DM clusters and credentials. Stop (Ctrl-C) and run');
    log('  DM_SWITCH_CONFIG=/path/to/worker.yaml npm start -- --no-sandbox');
    log('(docs/deploying.md, "Running the worker against your own DM")');
    log('a switch started now waits until a worker polls task queue "dm-switch"');
  }
  if (config) {
    const created = await createWorker(config, { address: stack.temporal!.address }, 'default');
    worker = { ...created, running: created.worker.run() };
    log(`worker: task queue "${config.taskQueue}", DM clusters ${Object.keys(config.dm.clusters).join(', ')}`);
  }

  const banner: BannerInfo = {
    readySeconds: 0,
    state: resolve(values.state),
    clone: join(import.meta.dirname, '..'),
    temporal: { address: stack.temporal!.address, uiUrl: stack.temporal?.uiUrl, cli: await temporalBinary() },
    ...(config ? { worker: { taskQueue: config.taskQueue, clusters: Object.keys(config.dm.clusters) } } : {}),
  };
  if (withSandbox && stack.vipLab && stack.topology && stack.dm && stack.downstream) {
    const demo = demoSwitchRequest(stack);
    await writeFile(join(values.state, 'demo-switch.json'), `${JSON.stringify(demo, null, 2)}\n`);

    // the alert webhook, with a policy for the demo source (approval needed before the VIP moves)
    const token = randomBytes(18).toString('base64url');
    await writeFile(join(values.state, 'webhook-token'), `${token}\n`, { mode: 0o600 });
    const policyText = stringify({
      taskQueue: config?.taskQueue ?? 'dm-switch',
      auth: { bearerTokenFile: join(values.state, 'webhook-token') },
      rules: [
        {
          name: 'demo-replica-down',
          match: { alertname: 'MySQLReplicaDown', dm_source: stack.sourceId! },
          kind: 'vip',
          gates: ['before-freeze'],
          switch: demo,
        },
      ],
    });
    await writeFile(join(values.state, 'webhook.yaml'), policyText);
    const policy = parsePolicy(policyText, join(values.state, 'webhook.yaml'));
    const client = new Client({ connection: await Connection.connect({ address: stack.temporal!.address }) });
    const app = createWebhook({ client, policy, secrets: await loadSecrets(policy) });
    webhook = { app, client };
    const url = await app.listen({ host: '127.0.0.1', port: Number(values['webhook-port']) });
    await writeFile(join(values.state, 'demo-alert.json'), `${JSON.stringify(demoAlert(stack.sourceId!), null, 2)}\n`);
    const { primary, replicas } = stack.topology;
    banner.sandbox = {
      primary: `${primary.host}:${primary.port}`,
      replicas: replicas.map((r) => `${r.host}:${r.port}`),
      vip: stack.vipLab.vip,
      vipOn: replicas[0]!.host,
      lab: stack.vipLab.subnet,
      namespaces: stack.vipLab.hosts.map((h) => h.netns),
      tidb: { host: stack.downstream.host, port: stack.downstream.port },
      dmctl: stack.dm.dmctlPath,
      dmMaster: stack.dm.masterAddr,
      sourceId: stack.sourceId!,
      task: stack.taskName!,
      workflowId: switchWorkflowId('default', stack.sourceId!),
      demoJson: JSON.stringify(demo),
      webhookUrl: `${url}/alerts`,
    };
  }
  banner.readySeconds = (Date.now() - t0) / 1000;
  const lines = startBanner(banner);
  await writeFile(join(values.state, BANNER_FILE), `${lines.join('\n')}\n`);
  for (const line of lines) log(line);
} catch (e) {
  console.error(`[dm-switch] could not start: ${e instanceof Error ? e.message : String(e)}`);
  await shutdown(1);
}
