import { describe, expect, it } from 'vitest';
import { parseWorkerConfig } from '../../worker/config.js';
import { credentialResolver } from '../../worker/credentials.js';
import { HostBinding, hostPatternProblem } from '../../worker/host-binding.js';

const names: Record<string, string[]> = {
  'db-a.prod.example': ['10.0.3.17'],
  'evil.example': ['203.0.113.9'],
  'split.example': ['203.0.113.9', '10.0.3.18'],
};
const resolveName = async (n: string) => {
  const a = names[n];
  if (!a) throw new Error(`ENOTFOUND ${n}`);
  return a;
};

describe('credential host bindings', () => {
  it.each([
    ['10.0.3.0/24', null],
    ['fd00::/64', null],
    ['10.0.3.17', null],
    ['db-a.prod.example', null],
    ['*.prod.example', null],
    ['10.0.3.0/33', /not a CIDR/],
    ['-oProxyCommand=x', /not a host name/],
    ['db a', /not a host name/],
  ])('pattern %s', (p, problem) => {
    const got = hostPatternProblem(p);
    if (problem === null) expect(got).toBeNull();
    else expect(got).toMatch(problem);
  });

  it('given addresses and CIDRs, should allow only those, and connect to the checked address of a name', async () => {
    const b = new HostBinding(['10.0.3.0/24', '127.0.0.1'], resolveName);
    expect(await b.check('10.0.3.200')).toEqual({ ok: true, connectTo: '10.0.3.200' });
    expect(await b.check('::ffff:127.0.0.1')).toEqual({ ok: true, connectTo: '127.0.0.1' });
    expect(await b.check('10.0.4.1')).toEqual({ ok: false, why: '10.0.4.1 is not in [10.0.3.0/24, 127.0.0.1]' });
    // a name is allowed through the address it resolves to, and the connection goes to that address
    expect(await b.check('db-a.prod.example')).toEqual({ ok: true, connectTo: '10.0.3.17' });
    expect(await b.check('split.example')).toEqual({ ok: true, connectTo: '10.0.3.18' });
    expect(await b.check('evil.example')).toMatchObject({
      ok: false,
      why: expect.stringMatching(/resolves to 203\.0\.113\.9, none in/),
    });
    expect(await b.check('nowhere.example')).toMatchObject({
      ok: false,
      why: expect.stringMatching(/does not resolve/),
    });
  });

  it('given names and suffixes, should match them as written and refuse anything that looks like an option', async () => {
    const b = new HostBinding(['db-a.prod.example', '*.dc1.example'], resolveName);
    expect(await b.check('DB-A.prod.example')).toEqual({ ok: true, connectTo: 'db-a.prod.example' });
    expect(await b.check('x.dc1.example')).toEqual({ ok: true, connectTo: 'x.dc1.example' });
    expect((await b.check('dc1.example')).ok).toBe(false);
    expect((await b.check('xdc1.example')).ok).toBe(false);
    expect((await b.check('10.0.3.17')).ok).toBe(false);
    expect(await b.check('-oProxyCommand=x')).toMatchObject({
      ok: false,
      why: expect.stringMatching(/not a host name or address/),
    });
  });

  const config = (creds: string) => parseWorkerConfig(`dm: { clusters: {} }\ncredentials:\n${creds}\n`);

  it('given a credential without hosts, should refuse the configuration and say what to give', () => {
    expect(() => config('  upstream: { user: dm, passwordEnv: PW }')).toThrow(
      /credentials\.upstream\.hosts: say where this credential may be sent/,
    );
    expect(() => config('  upstream: { user: dm, hosts: [] }')).toThrow(
      /credentials\.upstream\.hosts: give at least one/,
    );
    expect(() => config('  upstream: { user: dm, hosts: ["-x"] }')).toThrow(
      /credentials\.upstream\.hosts\.0: "-x": not a host name/,
    );
  });

  it('given a destination outside the hosts, should refuse before reading the password, naming both', async () => {
    const c = config(
      '  upstream: { user: dm, passwordEnv: PW, hosts: [10.0.3.0/24] }\n  downstream: { user: dm, passwordEnv: DPW, hosts: [tidb.example] }',
    );
    const resolve = credentialResolver(c.credentials, { PW: 's3cret', DPW: 'd0wn' }, resolveName);
    await expect(resolve('upstream', { host: '10.0.3.17', port: 3306, purpose: 'MySQL login' })).resolves.toMatchObject(
      { user: 'dm', password: 's3cret', connectTo: '10.0.3.17' },
    );
    await expect(resolve('downstream', { host: 'evil.example', port: 3306, purpose: 'MySQL login' })).rejects.toThrow(
      /credential "downstream" may not be sent to evil\.example:3306 \(MySQL login\): evil\.example is not in \[tidb\.example\]\. Nothing was sent\..*credentials\.downstream\.hosts/,
    );
    // the password is not even read for a host it does not belong to (an unset variable would say so otherwise)
    const unset = credentialResolver(c.credentials, {}, resolveName);
    await expect(unset('upstream', { host: '203.0.113.9', port: 3306, purpose: 'MySQL login' })).rejects.toThrow(
      /may not be sent/,
    );
  });
});
