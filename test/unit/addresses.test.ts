import { describe, expect, it } from 'vitest';
import { clientAddress, normalizeAddress, ownsConnection, replicaHostOf } from '../../common/switch/addresses.js';
import { isTransientDmError, isUpstreamConnectionError } from '../../activities/dm/dmctl.js';
import { isAccessError } from '../../activities/mysql.js';

describe('addresses as MySQL and the resolver print them', () => {
  it.each([
    ['10.0.0.5:53211', '10.0.0.5'],
    ['localhost:40000', 'localhost'],
    ['[::1]:5', '::1'],
    ['[::ffff:10.0.0.1]:5', '10.0.0.1'],
    ['db-host.example', 'db-host.example'],
    ['::1', '::1'],
  ])('given PROCESSLIST.HOST %s, should read the client %s', (host, client) => {
    expect(clientAddress(host)).toBe(client);
  });
  it('should compare IPv4-mapped IPv6 addresses as IPv4, case-insensitively', () => {
    expect(normalizeAddress('::FFFF:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
  });
});

describe('what is worth another attempt', () => {
  it.each([
    [
      '[code=38008:class=dm-master:scope=internal:level=high], Message: grpc request error, RawCause: rpc error: code = DeadlineExceeded desc = context deadline exceeded',
      true,
    ],
    ['etcdserver: leader changed', true],
    ['task app-to-downstream not found', false],
    ['source mysql-replica-01 not exist', false],
  ])('given dmctl saying %s, transient: %s', (text, transient) => {
    expect(isTransientDmError(text)).toBe(transient);
  });
  it.each([
    [
      'some error occurs in dm-worker: ErrCode:36053 ErrClass:"sync-unit" ErrScope:"internal" ErrLevel:"high" Message:"start syncing binlog from remote streamer" RawCause:"dial tcp 198.51.100.30:3306: connect: no route to host"',
      true,
    ],
    ['dial tcp 198.51.100.30:3306: connect: connection refused', true],
    ['ErrScope:\\"upstream\\" Message:\\"invalid connection\\"', true],
    ['task shard-pessimistic not found', false],
    ["Access denied for user 'dm'@'198.51.100.5'", false],
  ])('given resume-task saying %s, worth resuming again: %s', (text, again) => {
    expect(isUpstreamConnectionError(text)).toBe(again);
  });
  it('should tell a refused login from an outage', () => {
    expect(isAccessError({ code: 'ER_ACCESS_DENIED_ERROR' })).toBe(true);
    expect(isAccessError({ code: 'ECONNREFUSED' })).toBe(false);
  });
});

describe('ownsConnection: a dm-worker binlog dump, told apart from other dm-workers on the same machine', () => {
  const dump = (replicaHosts?: string[]) => ({
    clientAddress: '10.0.0.5',
    clientAddresses: ['10.0.0.5'],
    ...(replicaHosts ? { replicaHosts } : {}),
  });
  it("given the address and the worker registered as a replica there, should be the worker's", () => {
    expect(ownsConnection(['10.0.0.5'], dump(['worker1', 'db-b']), 'worker1')).toBe(true);
  });
  it("given the address but only another dm-worker of that machine registered, should not be the worker's", () => {
    expect(ownsConnection(['10.0.0.5'], dump(['worker2']), 'worker1')).toBe(false);
  });
  it('given no list of registered replicas (no privilege to read it), should judge by the address alone', () => {
    expect(ownsConnection(['10.0.0.5'], dump(), 'worker1')).toBe(true);
    expect(ownsConnection(['10.0.0.6'], dump(['worker1']), 'worker1')).toBe(false);
  });
  it('given a worker name longer than 60 characters, should compare what DM registers: its first 60', () => {
    const long = 'w'.repeat(70);
    expect(replicaHostOf(long)).toBe('w'.repeat(60));
    expect(ownsConnection(['10.0.0.5'], dump(['w'.repeat(60)]), long)).toBe(true);
  });
});

describe('ownsConnection with relay: DM registers its relay under the machine, not the dm-worker', () => {
  it("given a dm-relay-<host> replica listed, should judge a dump from the worker's address by the address alone", () => {
    const dump = { clientAddress: '10.0.0.5', clientAddresses: ['10.0.0.5'], replicaHosts: ['dm-relay-dmhost'] };
    expect(ownsConnection(['10.0.0.5'], dump, 'worker1')).toBe(true);
    expect(ownsConnection(['10.0.0.6'], dump, 'worker1')).toBe(false);
  });
});
