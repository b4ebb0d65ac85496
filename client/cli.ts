/**
 * dm-switch: the operator's command line.
 *
 *   dm-switch start vip|address [--file switch.yaml] [flags] [--dry-run] [--wait]
 *   dm-switch approve|reject <switch> [--gate G] [--comment C] [--by NAME]
 *   dm-switch status|watch|cancel <switch>
 *   dm-switch list [--source S] [--all]
 *   dm-switch drain <host[:port]> [--vip V] [--candidates …|--discover [H]] [--approve] [--dry-run] [--wait]
 *   dm-switch undrain <host[:port]> [--wait]
 *   dm-switch readiness [--cluster C]; dm-switch readiness schedule --every 15m --file drill.yaml [--now] [--delete]
 *
 * <switch> is a workflow ID (dm-switch/<cluster>/<source>), "<cluster>/<source>"
 * or just a source id (cluster "default"); status, watch, approve, reject and
 * cancel also take a drain's ID (dm-switch-drain/<host>:<port>). Temporal is reached through
 * @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TLS, profiles in temporal.toml). `--output json` prints
 * machine-readable results everywhere. Exit codes: see EXIT.
 */
import { printable } from '../common/text.js';
import { sentDecisions, withIdentities } from './approval-identity.js';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Command, CommanderError, Option } from 'commander';
import { describeMark, markOf } from '../activities/host-marks.js';
import { DEFAULT_TASK_QUEUE } from '../common/switch/ids.js';
import { GATES } from '../common/switch/status.js';
import { endedWords } from './ended.js';
import { renderList, renderStatus } from './render.js';
import { startSwitch, SwitchRequestError, validateRequest, type SwitchKind } from './switches.js';
import { renderHostStatus, type HostKind } from './drain.js';
import { type HostStatus } from '../common/switch/drain.js';
import { buildRequest, decide, hostAction } from './cli-actions.js';
import { addReadinessCommand } from './readiness-cli.js';
import {
  CliError,
  EXIT,
  exitFor,
  exitForHost,
  follow,
  isHost,
  print,
  queryStatus,
  switchId,
  SWITCH_TYPES,
  withClient,
  type Globals,
} from './cli-support.js';

export { EXIT } from './cli-support.js';

/** What `watch` prints after the outcome: the operator's actions, when there are any. */
function operatorActionsText(actions: string[]): string {
  if (!actions.length) return '';
  return `\nOPERATOR ACTION NEEDED:\n${actions.map((a) => `  ${a}`).join('\n')}`;
}

export function program(): Command {
  const g: Globals = { output: 'text', taskQueue: DEFAULT_TASK_QUEUE };
  const cmd = new Command('dm-switch')
    .description('Switch a TiDB DM source to another upstream MySQL instance, durably, on Temporal')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .option('--task-queue <name>', 'task queue of the dm-switch workers', DEFAULT_TASK_QUEUE)
    .exitOverride()
    .hook('preAction', (root) => {
      const opts = root.opts<{ output: 'text' | 'json'; taskQueue: string }>();
      g.output = opts.output;
      g.taskQueue = opts.taskQueue;
    });
  let code: number = EXIT.ok;
  const done = (c: number) => {
    code = c;
  };

  cmd
    .command('start')
    .description('start a switch: vip (move the VIP DM reads through) or address (re-point the source config)')
    .addArgument(new Command().createArgument('<kind>', 'vip or address').choices(['vip', 'address']))
    .option('-f, --file <path>', 'the switch request, JSON or YAML (the workflow input); flags override its fields')
    .option('--source <id>', 'DM source id')
    .option('--cluster <name>', 'DM cluster of the worker configuration (default: default)')
    .option('--new <host[:port]>', 'the instance DM should read from afterwards')
    .option(
      '--candidates <list>',
      'instead of --new: host[:port],… in your order of preference; the switch chooses ' +
        'the best that passes every check',
    )
    .option(
      '--discover [host[:port]]',
      'instead of --new: choose among the replicas of this instance (default: of --old and of its source)',
    )
    .option('--old <host[:port]>', 'the instance DM reads from now (may be down)')
    .option('--credentials <ref>', 'credential reference (on the worker) for --new and --old')
    .option('--vip <address>', 'vip: the VIP address')
    .option('--vip-provider <name>', 'vip: the VIP provider of the worker configuration')
    .option('--task-credentials <ref>', "address: credential reference for the tasks' downstream")
    .option('--source-credentials <ref>', "address: credential reference for DM's replication user")
    .option('--gates <list>', `approval gates, comma-separated (${GATES.join(', ')})`)
    .option('--approval-timeout <seconds>', 'a gate nobody decides within this time rejects')
    .option('--dry-run', 'do every check and report the plan; change nothing')
    .option('--reason <text>', 'why (recorded)')
    .option('--by <name>', 'who asks (default: your user name)')
    .option('--wait', 'follow the switch until it ends; the exit code says how it ended')
    .action(async (kind: SwitchKind, o: Record<string, string | boolean | undefined>) => {
      const request = await buildRequest(kind, o);
      try {
        validateRequest(kind, request); // before connecting: bad input is named first
      } catch (e) {
        if (e instanceof SwitchRequestError) throw new CliError(e.message, EXIT.usage);
        throw e;
      }
      await withClient(async (client) => {
        let started;
        try {
          started = await startSwitch(client, kind, request, { taskQueue: g.taskQueue });
        } catch (e) {
          if (e instanceof SwitchRequestError)
            throw new CliError(e.message, e.code === 'invalid-input' ? EXIT.usage : EXIT.refused);
          throw e;
        }
        print(
          g,
          { workflowId: started.workflowId, runId: started.runId },
          `started ${started.workflowId} (run ${started.runId})\n  watch: dm-switch watch ${started.workflowId}`,
        );
        if (o.wait) {
          const s = await follow(client, started.workflowId, g);
          if (g.output === 'json') print(g, s, '');
          done(exitFor(s.outcome));
        }
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    cmd
      .command(decision)
      .description(
        `${decision} the gate a switch waits at (answers at once; refused with the reason if it does not fit)`,
      )
      .argument('<switch>', 'workflow ID, <cluster>/<source> or source id')
      .option('--gate <gate>', `the gate (${GATES.join(', ')}; a drain's: plan); default: the one pending`)
      .option('--comment <text>', 'recorded with the decision')
      .option('--by <name>', 'who decides (default: your user name)')
      .action(async (ref: string, o: { gate?: string; comment?: string; by?: string }) =>
        done(await decide(decision, ref, o, g)),
      );
  }

  cmd
    .command('status')
    .description('phase, GTID sets, decisions, steps and what an operator must do')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        const s = await queryStatus(client, workflowId);
        if (isHost(s)) {
          print(g, s, renderHostStatus(workflowId, s));
          done(s.outcome === undefined ? EXIT.ok : exitForHost(s));
          return;
        }
        // who decided each gate, as Temporal recorded the client that sent it (beside the name it gave)
        const sent = await sentDecisions(
          client.workflow.getHandle(workflowId),
          client.options.loadedDataConverter,
        ).catch(() => []);
        const shown = { ...s, approvals: withIdentities(s.approvals, sent) };
        print(g, shown, renderStatus(workflowId, shown));
        done(s.outcome === undefined ? EXIT.ok : exitFor(s.outcome));
      });
    });

  const hostCommand = (kind: HostKind) =>
    cmd
      .command(kind === 'drain' ? 'drain' : 'undrain')
      .description(
        kind === 'drain'
          ? 'switch every DM source that reads <host> (by address, or through a --vip it ' +
              'holds) elsewhere: plan, [approval], switches, then who still reads it'
          : 'move back to <host> the sources its last drain moved (with the same checks)',
      )
      .argument('<host>', 'host[:port] (port 3306 by default)')
      .option('-f, --file <path>', 'the request, JSON or YAML (the workflow input); flags override its fields')
      .option(
        '--credentials <ref>',
        'credential reference (on the worker) for the host and the instances the sources move to',
      )
      .option('--task-credentials <ref>', "address switches: credential reference for the tasks' downstream")
      .option('--source-credentials <ref>', "address switches: credential reference for DM's replication user")
      .option('--approve', 'wait for one approval of the whole plan (dm-switch approve <drain>) before any switch')
      .option('--concurrency <n>', 'switches at once (default 2)')
      .option('--stop-on-failure', 'start no more switches after one that did not end switched')
      .option('--dry-run', 'plan only: every switch checked as a dry run, nothing changed')
      .option('--reason <text>', 'why (recorded)')
      .option('--by <name>', 'who asks (default: your user name)')
      .option(
        '--wait',
        'follow it until it ends; the exit code says whether the host is free (drain) or read again (undrain)',
      );
  hostCommand('drain')
    .option('--cluster <list>', 'DM clusters to search, comma-separated (default: every one the worker knows)')
    .option('--vip <list>', 'VIPs sources may read through, address[@provider], comma-separated')
    .option('--candidates <list>', 'where the sources may go: host[:port],… in order of preference')
    .option(
      '--discover [host[:port]]',
      'where the sources may go: the replicas of this instance (default: of <host> and of its source)',
    )
    .action(async (host: string, o: Record<string, string | boolean | undefined>) =>
      done(await hostAction('drain', host, o, g)),
    );
  hostCommand('return').action(async (host: string, o: Record<string, string | boolean | undefined>) =>
    done(await hostAction('return', host, o, g)),
  );

  cmd
    .command('watch')
    .description('follow a switch phase by phase until it ends; the exit code says how it ended')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        if (!workflowId.startsWith('dm-switch/')) {
          // a drain or return: its own switches are watched one by one (dm-switch watch <source>); here, its end
          await client.workflow
            .getHandle(workflowId)
            .result()
            .catch(() => undefined);
          const h = (await queryStatus(client, workflowId)) as HostStatus;
          print(g, h, renderHostStatus(workflowId, h));
          done(exitForHost(h));
          return;
        }
        const s = await follow(client, workflowId, g);
        print(g, s, `${workflowId}: ${s.outcome ?? s.phase}${operatorActionsText(s.operatorActions)}`);
        done(exitFor(s.outcome));
      });
    });

  cmd
    .command('list')
    .description('switches running now and those of the last 7 days (search attributes)')
    .option('--source <id>', 'only this DM source')
    .option('--all', 'every switch the namespace still keeps')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: { source?: string; all?: boolean; limit: string }) => {
      const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
      // a switch started from the Temporal UI or CLI has no search attributes until a worker runs it: listed by its
      // type
      const clauses = [
        `(DmSwitchSource IS NOT NULL OR WorkflowType IN (${SWITCH_TYPES.map((t) => JSON.stringify(t)).join(', ')}))`,
      ];
      if (o.source) clauses.push(`DmSwitchSource = ${JSON.stringify(o.source)}`);
      if (!o.all) clauses.push(`(ExecutionStatus = "Running" OR StartTime > "${since}")`);
      await withClient(async (client) => {
        type Row = { workflowId: string; runId: string; status: string; kind: string; source: string; phase: string };
        const rows: Array<Row & { outcome: string; started: string; maintenance?: string }> = [];
        for await (const w of client.workflow.list({ query: clauses.join(' AND '), pageSize: 100 })) {
          const sa = w.searchAttributes as Record<string, unknown[] | undefined>;
          rows.push({
            workflowId: w.workflowId,
            runId: w.runId,
            status: w.status.name,
            kind: String(sa.DmSwitchKind?.[0] ?? w.type),
            source: String(sa.DmSwitchSource?.[0] ?? ''),
            phase: String(sa.DmSwitchPhase?.[0] ?? (w.status.name === 'RUNNING' ? 'no worker has run it yet' : '')),
            outcome: String(sa.DmSwitchOutcome?.[0] ?? ''),
            started: w.startTime.toISOString(),
          });
          if (rows.length >= Number(o.limit)) break;
        }
        // the drains whose host is under maintenance (until an undrain): the run that marks it says so
        for (const r of rows) {
          const mark = await markOf(client, r.workflowId);
          if (mark && mark.runId === r.runId) r.maintenance = describeMark(mark);
        }
        print(g, rows, renderList(rows));
      });
    });

  cmd
    .command('cancel')
    .description('cancel a switch: what it changed is undone (in a step cancellation cannot interrupt)')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        // Temporal accepts a cancellation of a closed workflow without a word: one that ended is said to have
        const ended = await endedWords(client, workflowId);
        if (ended) throw new CliError(ended, EXIT.refused);
        await client.workflow.getHandle(workflowId).cancel();
        print(
          g,
          { workflowId, cancelRequested: true },
          `cancellation requested for ${workflowId}; follow the undo with: dm-switch watch ${workflowId}`,
        );
      });
    });

  addReadinessCommand(cmd, g, done);

  cmd.hook('postAction', () => {
    process.exitCode = code;
  });
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      process.stderr.write(`dm-switch: ${printable(e.message)}\n`);
      return e.code;
    }
    if (e instanceof WorkflowFailedError) {
      const cause =
        e.cause instanceof ApplicationFailure
          ? `${e.cause.type}: ${e.cause.message}`
          : e.cause instanceof CancelledFailure
            ? 'cancelled'
            : e.message;
      process.stderr.write(`dm-switch: the switch failed: ${printable(cause)}\n`);
      return EXIT.switchFailed;
    }
    process.stderr.write(`dm-switch: ${printable((e as Error).message ?? String(e))}\n`);
    return EXIT.usage;
  }
}
