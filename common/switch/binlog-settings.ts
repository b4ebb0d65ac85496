/**
 * How the new instance writes its binary log, judged by what the pinned DM's
 * syncer does with it (measured on MySQL 9.7, see the README's
 * compatibility table). Pure; the workflows and candidate ranking share it.
 *
 * DM's syncer turns only WRITE/UPDATE/DELETE rows events into SQL: a DML
 * statement logged as a Query event is skipped without an error ("ddl that dm
 * doesn't handle, skip it"), an UPDATE logged as a PARTIAL_UPDATE_ROWS_EVENT
 * pauses the task with "invalid replication event type", and a rows event
 * that lacks columns pauses it with "upstream didn't log enough columns in
 * binlog". What a replica writes is decided by its own settings: a replica
 * re-logs what it applies with its own binlog_row_value_options and
 * binlog_row_image, so a setting on the new instance alone decides what DM
 * would read, whatever the primary and the old instance use.
 */
import type { Dialect } from '../mysql/dialect.js';

/** The settings read from an instance (activities/mysql.ts `inspect`). */
export interface BinlogSettings {
  address: string;
  flavor: 'mysql' | 'mariadb';
  binlogFormat: string;
  binlogRowImage: string;
  /** '' or PARTIAL_JSON; null or absent where the server has no such variable. */
  binlogRowValueOptions?: string | null;
  binlogTransactionCompression?: boolean | null;
  binlogRowEventMaxSize: number | null;
  /** The server's dialect, where it was read with one: the advice is said in its words. */
  dialect?: Pick<Dialect, 'stopReplica' | 'startReplica' | 'features'>;
}

/** How to set a variable for good on this server: SET PERSIST from MySQL 8.0, else SET GLOBAL and the configuration. */
function setForGood(f: BinlogSettings, assignment: string): string {
  if (f.dialect && !f.dialect.features.setPersist)
    return `SET GLOBAL ${assignment} on it and in its configuration file (this version has no SET PERSIST)`;
  return `SET PERSIST ${assignment} on it`;
}

/**
 * Why DM could not read what the instance logs, one sentence per setting,
 * each with what DM does and what the DBA should do; empty when it can.
 */
export function unreadableBinlogSettings(f: BinlogSettings): string[] {
  const out: string[] = [];
  if (f.binlogFormat !== 'ROW') {
    out.push(
      `binlog_format is ${f.binlogFormat}, not ROW: a change it logs as a statement reaches DM as a Query ` +
        'event, which DM skips without an error, so the change never reaches downstream (a replica with ' +
        `STATEMENT stops at the first row event); ${setForGood(f, "binlog_format = 'ROW'")}`,
    );
  }
  if (f.binlogRowImage !== 'FULL') {
    out.push(
      `binlog_row_image is ${f.binlogRowImage}, not FULL: its UPDATE and DELETE events lack columns, and DM ` +
        'pauses the task at the first one ("upstream didn\'t log enough columns in binlog"); ' +
        setForGood(f, "binlog_row_image = 'FULL'"),
    );
  }
  if (/PARTIAL_JSON/i.test(f.binlogRowValueOptions ?? '')) {
    out.push(
      'binlog_row_value_options is PARTIAL_JSON: it logs every UPDATE it executes or replicates as a ' +
        'PARTIAL_UPDATE_ROWS_EVENT (with binlog_row_image FULL too, and when its source logs full updates), ' +
        'which DM\'s syncer does not read: the task pauses with "invalid replication event type ' +
        `PartialUpdateRowsEvent" at the first UPDATE DM reads from it; ` +
        `${setForGood(f, "binlog_row_value_options = ''")} and restart its replication ` +
        `(${f.dialect?.stopReplica ?? 'STOP REPLICA'}; ${f.dialect?.startReplica ?? 'START REPLICA'})`,
    );
  }
  return out;
}

/** Settings DM reads, but that a DBA should know about before moving DM there: information, not a refusal. */
export function binlogSettingNotes(f: BinlogSettings): string[] {
  if (f.binlogTransactionCompression !== true) return [];
  return [
    `binlog_transaction_compression is ON on ${f.address}: it logs transactions as Transaction_payload ` +
      "events; the pinned DM's syncer reads the rows events inside them (measured: every row replicated), " +
      "although DM v8.5's compatibility catalog still lists binlog transaction compression as unsupported; " +
      'check your DM version before relying on it',
  ];
}

/**
 * A binlog_row_event_max_size that differs from the old instance's: the new
 * instance splits a large transaction into rows events at another size.
 * DM's syncer, when its binlog connection breaks inside a transaction,
 * reconnects at the last finished transaction and skips as many rows events
 * as it had already read of the current one (a DM data-loss report: counted
 * on one server, skipped on another that splits differently). That count
 * lives only within one uninterrupted read: it starts at zero when a task
 * starts or resumes, from its checkpoint, a transaction boundary. A switch
 * pauses (VIP) or stops (address) every task and stops relay before DM can
 * reach the new instance, so nothing is skipped there. Measured on MySQL 9.7
 * and the pinned DM: switches between 8192 and 1024 while the primary wrote
 * large multi-row transactions ended with downstream equal to upstream.
 * Information for the DBA, not a refusal; null when equal or either is unknown.
 */
export function rowEventSizeNote(old: BinlogSettings, now: BinlogSettings): string | null {
  if (old.binlogRowEventMaxSize === null || now.binlogRowEventMaxSize === null) return null;
  if (old.binlogRowEventMaxSize === now.binlogRowEventMaxSize) return null;
  return (
    `binlog_row_event_max_size differs: old ${old.address} ${old.binlogRowEventMaxSize}, ` +
    `new ${now.address} ${now.binlogRowEventMaxSize}; DM reads it correctly after this switch, which pauses ` +
    'the tasks and stops relay first, so DM starts again at a transaction boundary (DM skips rows events by ' +
    'count only when it reconnects inside a transaction it was reading); never move the VIP or change the ' +
    "source's address by hand while its tasks run"
  );
}
