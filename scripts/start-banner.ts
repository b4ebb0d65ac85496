/**
 * What `npm start` prints once everything is up (and keeps in `banner.txt` in
 * the state directory): where everything is and the commands to try, each
 * with full paths so it works as written from any directory. The sample in
 * docs/operating.md is this function's output for the sample values there
 * (test/unit/start-banner.test.ts).
 */

export interface BannerInfo {
  /** Seconds from the start to ready. */
  readySeconds: number;
  /** The state directory (demo-switch.json, webhook.yaml, banner.txt, …). */
  state: string;
  /** The clone: where `npm link` puts `dm-switch` on PATH from. */
  clone: string;
  temporal: { address: string; uiUrl?: string; cli: string };
  /** The worker started, if any. */
  worker?: { taskQueue: string; clusters: string[] };
  /** The demo sandbox, unless --no-sandbox. */
  sandbox?: {
    primary: string;
    replicas: string[];
    vip: string;
    /** Where the VIP is now (replica 1's address). */
    vipOn: string;
    lab: string;
    namespaces: string[];
    tidb: { host: string; port: number };
    dmctl: string;
    dmMaster: string;
    sourceId: string;
    task: string;
    workflowId: string;
    /** The demo request, one line of JSON (the same as demo-switch.json). */
    demoJson: string;
    webhookUrl: string;
  };
}

export const BANNER_FILE = 'banner.txt';

/** The banner's lines, without the `[dm-switch] ` each is printed with. */
export function startBanner(b: BannerInfo): string[] {
  const t = b.temporal;
  const temporal = `${t.cli} --address ${t.address}`;
  const cli = `TEMPORAL_ADDRESS=${t.address} ${b.clone}/bin/dm-switch.js`;
  const lines = ['up; where everything is:', `temporal: ${t.address}${t.uiUrl ? `, Web UI ${t.uiUrl}` : ''}`];
  lines.push(
    b.worker
      ? `worker: task queue "${b.worker.taskQueue}", DM clusters ${b.worker.clusters.join(', ')}`
      : 'worker: none (no DM_SWITCH_CONFIG, see above)',
  );
  const s = b.sandbox;
  if (s) {
    const file = `${b.state}/demo-switch.json`;
    lines.push(
      `mysql: primary ${s.primary}, replicas ${s.replicas.join(', ')} (user root, no password)`,
      `vip: ${s.vip} on replica1 ${s.vipOn} (lab ${s.lab}, namespaces ${s.namespaces.join(', ')})`,
      `downstream: TiDB ${s.tidb.host}:${s.tidb.port} (mysql -h ${s.tidb.host} -P ${s.tidb.port} -u root)`,
      `dm: source ${s.sourceId} reads the VIP; task ${s.task} replicates schema app to TiDB`,
      `  ${s.dmctl} --master-addr=${s.dmMaster}`,
      `try a switch (replica1 → replica2 behind VIP ${s.vip}), from any directory:`,
      `  ${temporal} workflow start --task-queue dm-switch --type vipSwitch --workflow-id ${s.workflowId} ` +
        `--input-file ${file}`,
      `  ${temporal} workflow query --workflow-id ${s.workflowId} --type status`,
      `  or with our CLI: ${cli} start vip --file ${file} --wait`,
      `  or in the Web UI: Start Workflow, ID ${s.workflowId}, task queue dm-switch, type vipSwitch, input:`,
      `  ${s.demoJson}`,
      `alert webhook: ${s.webhookUrl} (policy ${b.state}/webhook.yaml); fire the demo alert with:`,
      `  curl -H "Authorization: Bearer $(cat ${b.state}/webhook-token)" -H 'content-type: application/json' ` +
        `--data @${b.state}/demo-alert.json ${s.webhookUrl}`,
      `  then approve the VIP move: ${cli} approve ${s.sourceId} --comment "looks right"`,
    );
  } else {
    lines.push(
      'start a switch of your own source (request format: docs/reference.md, "The switch request"):',
      `  ${temporal} workflow start --task-queue ${b.worker?.taskQueue ?? 'dm-switch'} ` +
        `--type vipSwitch --workflow-id dm-switch/<cluster>/<source> --input-file <request.json>`,
      `  or: ${cli} start vip --file <request.json> --wait`,
      `the alert webhook is not started without the sandbox: ` +
        `DM_SWITCH_WEBHOOK_POLICY=<policy.yaml> TEMPORAL_ADDRESS=${t.address} npm run webhook`,
    );
  }
  lines.push(
    `the CLI as dm-switch on PATH (the name its own hints use): npm link, once, in ${b.clone}`,
    'logs: one line per event; every field with DM_SWITCH_LOG_DETAILS=1 (or npm start -- --verbose)',
    `ready in ${b.readySeconds.toFixed(1)} s; this summary is kept in ${b.state}/${BANNER_FILE}`,
    'press Ctrl-C to stop (or send SIGINT or SIGTERM to npm start)',
  );
  return lines;
}
