/**
 * Where the worker's passwords may go, tried as an attacker would: the
 * project's own MySQL activities, with the worker's own credential resolver,
 * against a FAKE MySQL server on loopback that asks for the password in full
 * and hands out its own RSA key (test/sandbox/fake-mysql.ts: a server that
 * steals passwords is the one thing no real MySQL does), and against a real
 * MySQL 9.7 for the logins that must still work (TLS with its CA, a pinned key).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { parseWorkerConfig } from '../../worker/config.js';
import { credentialResolver } from '../../worker/credentials.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import { startFakeMysql, type FakeMysqlServer } from '../sandbox/fake-mysql.js';

const PASSWORD = 'upstream-s3cret';
let fake: FakeMysqlServer;
let elsewhere: FakeMysqlServer;
let reported: FakeMysqlServer;
let db: DbInstance;

beforeAll(async () => {
  [fake, elsewhere, reported, db] = await Promise.all([
    startFakeMysql('127.0.0.1'),
    startFakeMysql('127.0.0.2'),
    startFakeMysql('127.0.0.3'),
    startDb({ name: 'tls' }),
  ]);
  // a user that must authenticate in full (caching_sha2_password with an empty cache)
  await db.query(
    `CREATE USER 'dm'@'%' IDENTIFIED WITH caching_sha2_password BY '${PASSWORD}'; GRANT SELECT, REPLICATION CLIENT ON *.* TO 'dm'@'%'`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([fake?.stop(), elsewhere?.stop(), reported?.stop(), db?.destroy()]);
});

function activities(credential: string) {
  const config = parseWorkerConfig(`dm: { clusters: {} }\ncredentials:\n  upstream: ${credential}\n`);
  return createMysqlActivities(credentialResolver(config.credentials, { PW: PASSWORD }), { connectTimeoutMs: 3000 });
}

describe('credentials bound to hosts, and passwords only to servers that prove themselves', () => {
  it('given a host outside the credential binding (named by a request), should refuse before connecting: nothing reaches it', async () => {
    const a = activities('{ user: dm, passwordEnv: PW, hosts: [127.0.0.1/32] }');
    const ref = { host: elsewhere.host, port: elsewhere.port, credentials: 'upstream' };
    await expect(a.mysqlInspect(ref)).rejects.toThrow(
      /credential "upstream" may not be sent to 127\.0\.0\.2:\d+ \(MySQL login\): 127\.0\.0\.2 is not in \[127\.0\.0\.1\/32\]\. Nothing was sent/,
    );
    await expect(a.mysqlDiscoverReplicas({ ask: ref, alsoItsSource: true, credentials: 'upstream' })).rejects.toThrow(
      /may not be sent to 127\.0\.0\.2/,
    );
    expect(await a.mysqlCheckLogin(ref)).toMatchObject({ ok: false, error: expect.stringMatching(/may not be sent/) });
    expect(elsewhere.connections).toBe(0);
  });

  it('given a fake server that asks for the password in full without TLS, should send nothing and say why', async () => {
    const a = activities('{ user: dm, passwordEnv: PW, hosts: [127.0.0.1] }');
    const r = await a.mysqlCheckLogin({ host: fake.host, port: fake.port, credentials: 'upstream' });
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringMatching(
        /asked for the password of credential "upstream" in full \(caching_sha2_password\) over a connection without TLS .*nothing was sent/,
      ),
    });
    expect(fake.connections).toBe(1);
    expect(fake.keyRequests).toBe(0);
    expect(fake.captured).toEqual([]);
    // only the scramble token (a hash of the password mixed with the server's random bytes) was sent
    expect(fake.packets.map((p) => p.length / 2)).toEqual([32]);
  });

  it('given allowPublicKeyRetrieval, should show what the default prevents: the fake server reads the password', async () => {
    const a = activities('{ user: dm, passwordEnv: PW, hosts: [127.0.0.1], allowPublicKeyRetrieval: true }');
    const before = fake.captured.length;
    await a.mysqlCheckLogin({ host: fake.host, port: fake.port, credentials: 'upstream' });
    expect(fake.captured.slice(before)).toEqual([PASSWORD]);
  });

  it('given the real MySQL 9.7 without TLS or a pinned key, should refuse the full authentication it asks for', async () => {
    await db.query('FLUSH PRIVILEGES'); // empties caching_sha2_password's cache: the next login is a full one
    const a = activities('{ user: dm, passwordEnv: PW, hosts: [127.0.0.1] }');
    expect(await a.mysqlCheckLogin({ host: db.host, port: db.port, credentials: 'upstream' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/nothing was sent/),
    });
  });

  it('given TLS with the real MySQL 9.7 CA, should log in; given another CA, should refuse without sending the password', async () => {
    await db.query('FLUSH PRIVILEGES');
    const ok = activities(
      `{ user: dm, passwordEnv: PW, hosts: [127.0.0.1], tls: { caFile: ${JSON.stringify(join(db.dataDir, 'ca.pem'))}, verifyIdentity: false } }`,
    );
    expect(await ok.mysqlCheckLogin({ host: db.host, port: db.port, credentials: 'upstream' })).toMatchObject({
      ok: true,
      version: expect.stringMatching(/^9\.7/),
    });
    // the server's own certificate is not a CA: the chain does not verify, nothing is sent
    const wrong = activities(
      `{ user: dm, passwordEnv: PW, hosts: [127.0.0.1], tls: { caFile: ${JSON.stringify(join(db.dataDir, 'server-cert.pem'))}, verifyIdentity: false } }`,
    );
    await db.query('FLUSH PRIVILEGES');
    expect(await wrong.mysqlCheckLogin({ host: db.host, port: db.port, credentials: 'upstream' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/did not prove itself/),
    });
  });

  it('given the server key pinned, should log in to the real MySQL 9.7 without TLS', async () => {
    await db.query('FLUSH PRIVILEGES');
    const a = activities(
      `{ user: dm, passwordEnv: PW, hosts: [127.0.0.1], serverPublicKeyFile: ${JSON.stringify(join(db.dataDir, 'public_key.pem'))} }`,
    );
    expect(await a.mysqlCheckLogin({ host: db.host, port: db.port, credentials: 'upstream' })).toMatchObject({
      ok: true,
    });
  });

  it('given a real server whose replication source is outside the binding, should not follow it: the source is not read, discovery says why', async () => {
    // the real server reports a source at 127.0.0.3 (its replication user connects there, the worker must not)
    await db.query(
      `CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.3', SOURCE_PORT=${reported.port}, SOURCE_USER='repl', SOURCE_PASSWORD='r', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=0; START REPLICA IO_THREAD`,
    );
    try {
      const a = activities('{ user: root, hosts: [127.0.0.1] }');
      const ref = { host: db.host, port: db.port, credentials: 'upstream' };
      const facts = await a.mysqlInspect(ref, { withSources: true });
      expect(facts.reachable && facts.sources).toEqual([
        {
          reachable: false,
          address: `127.0.0.3:${reported.port}`,
          error: expect.stringMatching(/may not be sent to 127\.0\.0\.3.*Nothing was sent/),
        },
      ]);
      const found = await a.mysqlDiscoverReplicas({ ask: ref, alsoItsSource: true, credentials: 'upstream' });
      expect(found.asked.join('\n')).toMatch(
        new RegExp(`127\\.0\\.0\\.3:${reported.port}: not followed \\(credential "upstream" may not be sent`),
      );
      expect(reported.users.filter((u) => u !== 'repl')).toEqual([]);
    } finally {
      await db.query('STOP REPLICA; RESET REPLICA ALL');
    }
  });
});
