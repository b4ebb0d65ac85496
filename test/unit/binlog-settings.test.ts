import { describe, expect, it } from 'vitest';
import {
  binlogSettingNotes,
  rowEventSizeNote,
  unreadableBinlogSettings,
  type BinlogSettings,
} from '../../common/switch/binlog-settings.js';
import { applying, channelsOf, replicating } from '../../common/switch/replication.js';

const b = (over: Partial<BinlogSettings> = {}): BinlogSettings => ({
  address: 'b:3306',
  flavor: 'mysql',
  binlogFormat: 'ROW',
  binlogRowImage: 'FULL',
  binlogRowValueOptions: '',
  binlogTransactionCompression: false,
  binlogRowEventMaxSize: 8192,
  ...over,
});

describe('binary log settings DM reads', () => {
  it('given ROW, FULL and no partial JSON, should find nothing to refuse', () => {
    expect(unreadableBinlogSettings(b())).toEqual([]);
    expect(unreadableBinlogSettings(b({ binlogRowValueOptions: null, flavor: 'mariadb' }))).toEqual([]);
  });

  it('given PARTIAL_JSON, MIXED or MINIMAL, should name each with what DM does and what to set', () => {
    const all = unreadableBinlogSettings(
      b({ binlogRowValueOptions: 'PARTIAL_JSON', binlogFormat: 'MIXED', binlogRowImage: 'MINIMAL' }),
    );
    expect(all).toHaveLength(3);
    expect(all[0]).toMatch(/^binlog_format is MIXED, not ROW: .*skips without an error/);
    expect(all[1]).toMatch(/^binlog_row_image is MINIMAL, not FULL: .*didn't log enough columns/);
    expect(all[2]).toMatch(
      /^binlog_row_value_options is PARTIAL_JSON: .*invalid replication event type PartialUpdateRowsEvent/,
    );
  });

  it("given compression on, should report it as information naming DM v8.5's catalog, not refuse", () => {
    expect(unreadableBinlogSettings(b({ binlogTransactionCompression: true }))).toEqual([]);
    expect(binlogSettingNotes(b({ binlogTransactionCompression: true })).join()).toMatch(
      /DM v8\.5's compatibility catalog/,
    );
    expect(binlogSettingNotes(b())).toEqual([]);
  });

  it('given a different binlog_row_event_max_size, should name both instances; unknown sizes are not compared', () => {
    expect(rowEventSizeNote(b({ address: 'a:3306' }), b({ binlogRowEventMaxSize: 1024 }))).toMatch(
      /old a:3306 8192, new b:3306 1024/,
    );
    expect(rowEventSizeNote(b(), b())).toBeNull();
    expect(rowEventSizeNote(b({ binlogRowEventMaxSize: null }), b())).toBeNull();
  });
});

describe('still replicating, on every channel', () => {
  const ch = (ioRunning: boolean, sqlRunning: boolean) => ({ ioRunning, sqlRunning });
  it('given an IO thread Connecting (its source died) and the SQL thread applying, should still be applying', () => {
    expect(applying([ch(false, true)])).toBe(true);
    expect(replicating([ch(false, true)])).toBe(true);
  });
  it('given an IO thread alone, should replicate but not apply', () => {
    expect(applying([ch(true, false)])).toBe(false);
    expect(replicating([ch(true, false)])).toBe(true);
  });
  it('given a stopped first channel and a running second one, should read the second', () => {
    const facts = { replica: ch(false, false), channels: [ch(false, false), ch(true, true)] };
    expect(applying(channelsOf(facts))).toBe(true);
    expect(applying(channelsOf({ replica: ch(false, false) }))).toBe(false);
    expect(replicating(channelsOf({ replica: null }))).toBe(false);
  });
});
