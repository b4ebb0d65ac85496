/**
 * Credential references, resolved on the worker at the moment an activity
 * connects: from an environment variable or a file, never from workflow
 * input or history. A password is only handed out for a destination its
 * credential is bound to (`hosts`, worker/host-binding.ts): the caller names
 * where it will send it, and gets the address to connect to with it.
 */
import { readFile } from 'node:fs/promises';
import type { CredentialResolver, Credentials } from '../activities/mysql.js';
import { CREDENTIAL_NOT_BOUND, failure, SwitchErrorType } from '../common/switch/errors.js';
import type { WorkerConfig } from './config.js';
import { HostBinding, type Resolve } from './host-binding.js';

async function readOrFail(reference: string, what: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const why = `cannot read ${what} ${path}: ${(e as Error).message}`;
    throw failure(`credential "${reference}": ${why}`, SwitchErrorType.InvalidInput);
  }
}

export function credentialResolver(
  config: WorkerConfig['credentials'],
  env: NodeJS.ProcessEnv = process.env,
  resolveName?: Resolve,
): CredentialResolver {
  const bindings = new Map(Object.entries(config).map(([k, c]) => [k, new HostBinding(c.hosts ?? [], resolveName)]));
  return async (reference, to) => {
    const c = config[reference];
    if (!c) {
      const known =
        Object.keys(config)
          .map((k) => `"${k}"`)
          .join(', ') || 'none';
      throw failure(
        `unknown credential reference "${reference}": the worker knows ${known} (credentials in its configuration)`,
        SwitchErrorType.InvalidInput,
      );
    }
    // where it goes first: nothing is read (or sent) for a host the credential does not belong to
    const bound = await bindings.get(reference)!.check(to.host);
    if (!bound.ok) {
      throw failure(
        `credential "${reference}" may not be sent to ${to.host}:${to.port} (${to.purpose}): ${bound.why}. ` +
          (`Nothing was sent. If that server really belongs to it, add it to ` +
            `credentials.${reference}.hosts in the worker's configuration`),
        SwitchErrorType.InvalidInput,
        CREDENTIAL_NOT_BOUND,
      );
    }
    let password = '';
    if (c.passwordEnv) {
      const v = env[c.passwordEnv];
      if (v === undefined) {
        const why = `environment variable ${c.passwordEnv} is not set on the worker`;
        throw failure(`credential "${reference}": ${why}`, SwitchErrorType.InvalidInput);
      }
      password = v;
    } else if (c.passwordFile) {
      password = (await readOrFail(reference, 'its password file', c.passwordFile)).replace(/\r?\n$/, '');
    }
    const creds: Credentials = {
      user: c.user,
      password,
      connectTo: bound.connectTo,
      allowPublicKeyRetrieval: c.allowPublicKeyRetrieval,
    };
    if (c.tls)
      creds.tls = {
        ca: await readOrFail(reference, 'its TLS CA file', c.tls.caFile),
        verifyIdentity: c.tls.verifyIdentity,
      };
    if (c.serverPublicKeyFile)
      creds.serverPublicKey = await readOrFail(reference, 'its server public key file', c.serverPublicKeyFile);
    return creds;
  };
}
