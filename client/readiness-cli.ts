/**
 * `dm-switch readiness`: the latest drill's table (exit 1 when a source is not switchable, 3 when no drill has
 * finished), and `dm-switch readiness schedule --every <interval> --file drill.yaml` (create or update the
 * cluster's schedule; `--now` also runs a drill at once; `--delete` removes it).
 */
import type { Command } from 'commander';
import { CliError, EXIT, print, withClient, type Globals } from './cli-support.js';
import {
  deleteReadiness,
  intervalSeconds,
  latestReadiness,
  readDrillInput,
  ReadinessInputError,
  renderReadiness,
  scheduleReadiness,
  triggerReadiness,
} from './readiness.js';

export function addReadinessCommand(cmd: Command, g: Globals, done: (code: number) => void): void {
  const readiness = cmd
    .command('readiness')
    .description("could each source be switched now, and to where: the latest readiness drill's table")
    .option('--cluster <name>', 'DM cluster (default: default)', 'default')
    .action(async (o: { cluster: string }) => {
      await withClient(async (client) => {
        const l = await latestReadiness(client, o.cluster);
        if (!l)
          throw new CliError(
            `no readiness schedule for DM cluster ${o.cluster}: create one with ` +
              `dm-switch readiness schedule --every 15m --file drill.yaml --cluster ${o.cluster}`,
            EXIT.refused,
          );
        print(g, l, renderReadiness(l));
        if (!l.report) done(EXIT.refused);
        else if (l.report.sources.some((s) => !s.ready)) done(EXIT.switchFailed);
      });
    });
  readiness
    .command('schedule')
    .description('create or update the schedule of readiness drills of a DM cluster (or --delete it)')
    .option('--every <interval>', 'how often: 15m, 1h, 90s (at least 60 s)')
    .option('-f, --file <path>', 'the drill: dmCluster and sources (kind and switch request each), JSON or YAML')
    .option('--cluster <name>', 'DM cluster (overrides the file; default: the file\'s, or "default")')
    .option('--now', 'also run a drill now')
    .option('--delete', 'remove the schedule instead')
    .action(async (o: { every?: string; file?: string; cluster?: string; now?: boolean; delete?: boolean }) => {
      if (o.delete) {
        const cluster = o.cluster ?? 'default';
        await withClient(async (client) => {
          const removed = await deleteReadiness(client, cluster);
          print(
            g,
            { dmCluster: cluster, deleted: removed },
            removed ? `readiness schedule of ${cluster} removed` : `no readiness schedule for ${cluster}`,
          );
        });
        return;
      }
      if (!o.every || !o.file) throw new CliError('give --every <interval> and --file <drill.yaml>', EXIT.usage);
      let input, every;
      try {
        every = intervalSeconds(o.every);
        input = await readDrillInput(o.file, o.cluster);
      } catch (e) {
        if (e instanceof ReadinessInputError) throw new CliError(e.message, EXIT.usage);
        throw e;
      }
      await withClient(async (client) => {
        const r = await scheduleReadiness(client, input, every, g.taskQueue);
        if (o.now) await triggerReadiness(client, input.dmCluster);
        print(
          g,
          { ...r, everySeconds: every, sources: input.sources.length, triggered: o.now === true },
          `${r.created ? 'created' : 'updated'} ${r.scheduleId}: a drill of ${input.sources.length} source(s) ` +
            `every ${every} s${o.now ? '; one runs now' : ''}; see the table with dm-switch readiness ` +
            `--cluster ${input.dmCluster}`,
        );
      });
    });
}
