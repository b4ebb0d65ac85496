/**
 * The blind-spot checks of preflight, again where a setting could have
 * changed since: with DM frozen (just before the VIP moves or the source is
 * re-pointed) and after every gate that waited for a person. A replication
 * filter (CHANGE REPLICATION FILTER, on the new instance or a server up to
 * the primary), binlog_format, binlog_row_image, binlog_row_value_options and
 * gtid_mode can all be changed on a running server, and a restart during a
 * long gate can bring in binlog-do-db, binlog-ignore-db or
 * replica_skip_errors from the configuration; any of them makes DM lose
 * changes without an error while every GTID rule holds.
 *
 * No extra read: the frozen re-check and the re-check after a gate already
 * read the new instance with its chain (mysqlInspect withSources: the
 * settings, the filters of every server up to the primary) in the same round
 * trips as its GTID sets. Only when a filter is found are the tasks' schemas
 * read from DM, once per switch, to tell a harmless filter from one that
 * hides what the tasks replicate.
 */
import { parse as parseYaml } from 'yaml';
import { binlogSettingNotes, unreadableBinlogSettings } from '../common/switch/binlog-settings.js';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { InstanceFacts } from '../common/switch/types.js';
import { filterProblems, noFilters, scopeOfTaskConfig, taskScope, type TaskScope } from '../common/switch/filters.js';
import { dm } from './activities.js';
import { serverFilters } from './topology-checks.js';
import type { Tracker } from './tracker.js';

type Facts = Extract<InstanceFacts, { reachable: true }>;

/** What the re-check needs from preflight; `scopes` is filled once read. */
export interface SettingsRecheck {
  dmCluster: string;
  sourceId: string;
  /** The source's tasks: a filter may not touch a schema any of them replicates. */
  tasks: string[];
  /** The new instance as preflight read it: what differs now is named as changed. */
  before: Facts;
  /** The tasks' schemas, when read (preflight reads them only where it found a filter). */
  scopes: TaskScope[] | null;
  /**
   * The tasks' configurations saved before they were stopped (address switch): DM no longer lists a stopped
   * task, so its schemas are read from these instead.
   */
  configs?: Array<{ name: string; yaml: string }>;
}

export function settingsRecheck(
  req: { dmCluster: string; sourceId: string },
  tasks: string[],
  pf: { newFacts: Facts; oldFacts: Facts | null; scopes?: TaskScope[] | null },
  configs?: Array<{ name: string; yaml: string }>,
): SettingsRecheck {
  const saved = configs ? { configs } : {};
  return { ...req, tasks, before: pf.newFacts, scopes: pf.scopes ?? null, ...saved };
}

/** The schemas of each saved task configuration; one that cannot be read counts as every schema. */
function scopesOfConfigs(configs: Array<{ name: string; yaml: string }>, sourceId: string): TaskScope[] {
  return configs.map((c) => {
    try {
      const doc = parseYaml(c.yaml) as Record<string, unknown> | null;
      return (doc && scopeOfTaskConfig(c.name, doc, sourceId)) ?? taskScope(c.name, null);
    } catch {
      return taskScope(c.name, null);
    }
  });
}

/** The settings DM cannot read that the new instance has now, each naming the setting, the server and the fix. */
async function findings(r: SettingsRecheck, facts: Facts): Promise<string[]> {
  const on = `on the new instance ${facts.address}`;
  const out: string[] = [];
  if (facts.flavor === 'mysql' && facts.gtidMode !== 'ON') {
    out.push(
      `gtid_mode is ${facts.gtidMode}, not ON, ${on}: DM needs every transaction it reads to carry a GTID; ` +
        "SET PERSIST gtid_mode = 'ON' on it (stepwise: ON_PERMISSIVE, then ON)",
    );
  }
  if (!facts.logBin) out.push(`binary logging is off (log_bin=0) ${on}: DM has nothing to read there`);
  out.push(...unreadableBinlogSettings(facts).map((p) => `${p.replace(/:/, ` ${on}:`)}`));
  const servers = serverFilters(facts);
  if (!servers.every(noFilters)) {
    if (r.scopes === null && r.configs) r.scopes = scopesOfConfigs(r.configs, r.sourceId);
    if (r.scopes === null) {
      r.scopes = r.tasks.length
        ? await dm.dmTaskScopes({ dmCluster: r.dmCluster, sourceId: r.sourceId, tasks: r.tasks })
        : [];
    }
    out.push(...filterProblems(servers, r.scopes));
  }
  return out;
}

/**
 * Fails (after a change: the caller undoes the switch, and DM reads the old
 * instance again) when the new instance, or a server up to the primary, now
 * has a setting that would make DM lose changes; `when` says where in the
 * switch it was read (`with DM frozen`, `after gate before-switch`).
 */
export async function recheckSettings(
  t: Tracker,
  r: SettingsRecheck | undefined,
  facts: Facts,
  when: string,
): Promise<void> {
  if (!r) return;
  const compressed = binlogSettingNotes(facts);
  if (compressed.length && r.before.binlogTransactionCompression !== true) {
    for (const n of compressed) t.decide('info', `${n} (turned on after preflight)`);
  }
  const found = await findings(r, facts);
  if (found.length === 0) {
    const where =
      serverFilters(facts)
        .map((s) => s.address)
        .join(', ') || facts.address;
    t.decide('go', `${when}: the binary log settings and filters of ${where} are still ones DM reads without loss`);
    return;
  }
  const message =
    `${when}, the switch found what the checks at preflight had not (so it was changed since): ${found.join('; ')}. ` +
    'The GTID rules cannot see this (the transactions keep their GTIDs), so the switch is undone and DM reads the ' +
    'old instance again; fix the setting named, then start the switch again';
  t.decide('refuse', message);
  throw failure(message, SwitchErrorType.SettingChanged);
}
