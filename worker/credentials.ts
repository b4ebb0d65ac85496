/**
 * Credential references, resolved on the worker at the moment an activity
 * connects: from an environment variable or a file, never from workflow
 * input or history.
 */
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { CredentialResolver } from '../activities/mysql.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { WorkerConfig } from './config.js';

export function credentialResolver(config: WorkerConfig['credentials'], env: NodeJS.ProcessEnv = process.env): CredentialResolver {
  return async (reference) => {
    const c = config[reference];
    if (!c) {
      throw ApplicationFailure.create({
        message: `unknown credential reference "${reference}": the worker knows ${Object.keys(config).map((k) => `"${k}"`).join(', ') || 'none'} (credentials in its configuration)`,
        type: SwitchErrorType.InvalidInput,
        nonRetryable: true,
      });
    }
    if (c.passwordEnv) {
      const password = env[c.passwordEnv];
      if (password === undefined) {
        throw ApplicationFailure.create({
          message: `credential "${reference}": environment variable ${c.passwordEnv} is not set on the worker`,
          type: SwitchErrorType.InvalidInput,
          nonRetryable: true,
        });
      }
      return { user: c.user, password };
    }
    if (c.passwordFile) {
      try {
        return { user: c.user, password: (await readFile(c.passwordFile, 'utf8')).replace(/\r?\n$/, '') };
      } catch (e) {
        throw ApplicationFailure.create({
          message: `credential "${reference}": cannot read ${c.passwordFile}: ${(e as Error).message}`,
          type: SwitchErrorType.InvalidInput,
          nonRetryable: true,
        });
      }
    }
    return { user: c.user, password: '' };
  };
}
