import { describe, expect, it } from 'vitest';
import { decideGtids } from '../../common/switch/decide.js';
import { mariadbPosition } from '../../common/switch/mariadb-position.js';

describe("DM's MariaDB positions", () => {
  it('given one GTID per domain and server id (DM after a failover), should keep the highest of each domain', () => {
    expect(mariadbPosition('0-1-8,0-2-14')).toBe('0-2-14');
    expect(mariadbPosition('0-1-20,0-2-14,1-5-3')).toBe('0-1-20,1-5-3');
    // the checks read it: before, "a GTID set could not be read" refused every switch of the source
    expect(
      decideGtids({
        flavor: 'mariadb',
        gtidS: '0-1-8,0-2-14',
        gtidP: null,
        gtidE: '0-2-14',
        newInstanceReplicating: false,
      }).verdict,
    ).toBe('refuse');
    expect(
      decideGtids({
        flavor: 'mariadb',
        gtidS: mariadbPosition('0-1-8,0-2-14'),
        gtidP: null,
        gtidE: '0-2-14',
        newInstanceReplicating: false,
      }).verdict,
    ).toBe('go');
  });

  it('given a MySQL set, an empty text or one position per domain, should leave it as it is', () => {
    expect(mariadbPosition('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5')).toBe(
      '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5',
    );
    expect(mariadbPosition('')).toBe('');
    expect(mariadbPosition('0-1-8,1-1-3')).toBe('0-1-8,1-1-3');
  });
});
