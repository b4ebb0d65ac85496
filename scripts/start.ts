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
 * Ctrl-C (or SIGTERM) stops everything it started; nothing is left running.
 */
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { stringify } from 'yaml';
import { parsePolicy } from '../client/policy.js';
import { createWebhook, loadSecrets } from '../client/webhook.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { switchWorkflowId } from '../common/switch/ids.js';
import { temporalBinary } from '../test/sandbox/temporal.js';
import { demoSwitchRequest, startStack, type Stack } from '../test/sandbox/stack.js';
import { checkDmctl, loadWorkerConfig, parseWorkerConfig, type WorkerConfig } from '../worker/config.js';
import { createWorker } from '../worker/worker.js';

const { values } = parseArgs({
  options: {
    sandbox: { type: 'boolean', default: true },
    'no-sandbox': { type: 'boolean', default: false },
    port: { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8233' },
    'webhook-port': { type: 'string', default: '9095' },
    state: { type: 'string', default: process.env.DM_SWITCH_STATE ?? join(homedir(), '.local/state/dm-switch') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm start [-- --no-sandbox] [--port 7233] [--ui-port 8233] [--webhook-port 9095] [--state DIR]

Starts a Temporal dev server (history kept in DIR/temporal.sqlite) and, unless
--no-sandbox, the demo sandbox: MySQL primary + 2 replicas, a downstream and a
DM cluster with source mysql-replica-01 and a running task. Ctrl-C stops all.`);
  process.exit(0);
}
const withSandbox = values.sandbox && !values['no-sandbox'];
await mkdir(values.state, { recursive: true });
const log = (line: string) => console.log(`[dm-switch] ${line}`);

let stack: Stack | undefined;
let worker: { worker: Worker; connection: NativeConnection; running: Promise<void> } | undefined;
let webhook: { app: FastifyInstance; client: Client } | undefined;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
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
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

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

  if (withSandbox && stack.vipLab && stack.topology) {
    const demo = demoSwitchRequest(stack);
    const file = join(values.state, 'demo-switch.json');
    await writeFile(file, `${JSON.stringify(demo, null, 2)}\n`);
    const id = switchWorkflowId('default', stack.sourceId!);
    const temporal = `${await temporalBinary()} --address ${stack.temporal!.address}`;
    log(`try a switch (replica1 → replica2 behind VIP ${stack.vipLab.vip}):`);
    log(
      `  ${temporal} workflow start --task-queue dm-switch --type vipSwitch --workflow-id ${id} --input-file ${file}`,
    );
    log(`  ${temporal} workflow query --workflow-id ${id} --type status`);
    log(
      `  or in the Web UI: Start Workflow, ID ${id}, task queue dm-switch, type ` +
        `vipSwitch, input (the JSON of ${file}):`,
    );
    log(`  ${JSON.stringify(demo)}`);
    log(`  or with our CLI: TEMPORAL_ADDRESS=${stack.temporal!.address} npx dm-switch start vip --file ${file} --wait`);

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
    const alert = join(values.state, 'demo-alert.json');
    await writeFile(
      alert,
      `${JSON.stringify({ version: '4', status: 'firing', receiver: 'dm-switch', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: '', groupKey: 'demo', alerts: [{ status: 'firing', labels: { alertname: 'MySQLReplicaDown', dm_source: stack.sourceId! }, annotations: { summary: 'demo: replica1 is down' }, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: 'demo0001' }] }, null, 2)}\n`,
    );
    log(`alert webhook: ${url}/alerts (policy ${join(values.state, 'webhook.yaml')}); fire the demo alert with:`);
    log(
      `  curl -H "Authorization: Bearer $(cat ${join(values.state, 'webhook-token')})" ` +
        `-H 'content-type: application/json' --data @${alert} ${url}/alerts`,
    );
    log(
      `  then approve the VIP move: TEMPORAL_ADDRESS=${stack.temporal!.address} npx ` +
        `dm-switch approve ${stack.sourceId!} --comment "looks right"`,
    );
  }
  if (!withSandbox) {
    const temporal = `${await temporalBinary()} --address ${stack.temporal!.address}`;
    log('start a switch of your own source (request format: docs/reference.md, "The switch request"):');
    log(
      `  ${temporal} workflow start --task-queue ${config?.taskQueue ?? 'dm-switch'} ` +
        `--type vipSwitch --workflow-id dm-switch/<cluster>/<source> --input-file <request.json>`,
    );
    log(`  or: TEMPORAL_ADDRESS=${stack.temporal!.address} npx dm-switch start vip --file <request.json> --wait`);
    log(
      `the alert webhook is not started without the sandbox: ` +
        `DM_SWITCH_WEBHOOK_POLICY=<policy.yaml> TEMPORAL_ADDRESS=${stack.temporal!.address} npm run webhook`,
    );
  }
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s — Temporal Web UI: ${stack.temporal?.uiUrl}`);
  log('press Ctrl-C to stop');
} catch (e) {
  console.error(`[dm-switch] could not start: ${e instanceof Error ? e.message : String(e)}`);
  await shutdown(1);
}
