/**
 * How the worker proves a password to MySQL without handing it to whoever
 * answers. mysql2's own caching_sha2_password and sha256_password plugins,
 * when the server asks for full authentication over a connection without
 * TLS, ask the *server* for its RSA public key and encrypt the password with
 * it: a fake server supplies its own key and reads the password. These
 * replacements send the password only over TLS, or encrypted with a key the
 * worker was given (pinned), or, when a credential allows it explicitly,
 * with the key the server supplies. The fast path (a scramble of the
 * password's hash, as mysql_native_password does) is unchanged, and
 * mysql_clear_password stays refused (mysql2's default).
 */
import { createHash, constants, publicEncrypt } from 'node:crypto';

const REQUEST_PUBLIC_KEY = Buffer.from([2]);
const FAST_AUTH_OK = 3;
const FULL_AUTH = 4;

export interface AuthPolicy {
  /** The credential reference, named in a refusal. */
  reference: string;
  /** Host and port, named in a refusal. */
  address: string;
  tls: boolean;
  serverPublicKey?: string;
  allowPublicKeyRetrieval: boolean;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

function scrambleToken(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const s1 = sha256(Buffer.from(password));
  return xor(s1, sha256(Buffer.concat([sha256(s1), scramble])));
}

function encrypted(password: string, scramble: Buffer, key: string | Buffer): Buffer {
  return publicEncrypt(
    { key, oaepHash: 'sha1', padding: constants.RSA_PKCS1_OAEP_PADDING },
    xor(Buffer.from(`${password}\0`), scramble),
  );
}

function refusal(p: AuthPolicy, plugin: string): Error {
  return Object.assign(
    new Error(
      `${p.address} asked for the password of credential "${p.reference}" in full ` +
        `(${plugin}) over a connection without TLS ` +
        (`and without a pinned server key; nothing was sent. Give the credential tls: { ` +
          `caFile } or serverPublicKeyFile `) +
        `(or, knowing that any server answering there then reads the password, allowPublicKeyRetrieval: true)`,
    ),
    { code: 'DM_SWITCH_PASSWORD_WITHHELD', fatal: true },
  );
}

type Plugin = (ctx: { connection: { config: { password?: string } } }) => (data: Buffer) => Buffer | null;

/**
 * The full-authentication answer: cleartext over TLS, else encrypted with a pinned key, else (if allowed) a requested
 * one.
 */
function fullAuth(
  p: AuthPolicy,
  plugin: string,
  password: string,
  scramble: Buffer,
): { send: Buffer; waitKey: boolean } {
  if (p.tls) return { send: Buffer.from(`${password}\0`), waitKey: false };
  if (p.serverPublicKey) return { send: encrypted(password, scramble, p.serverPublicKey), waitKey: false };
  if (p.allowPublicKeyRetrieval) return { send: REQUEST_PUBLIC_KEY, waitKey: true };
  throw refusal(p, plugin);
}

function cachingSha2(p: AuthPolicy): Plugin {
  return ({ connection }) => {
    const password = connection.config.password ?? '';
    let scramble = Buffer.alloc(20);
    let state: 'initial' | 'token-sent' | 'wait-key' | 'done' = 'initial';
    return (data) => {
      switch (state) {
        case 'initial':
          scramble = Buffer.from(data.subarray(0, 20));
          state = 'token-sent';
          return scrambleToken(password, scramble);
        case 'token-sent': {
          if (data.length === 1 && data[0] === FAST_AUTH_OK) {
            state = 'done';
            return null;
          }
          if (data.length === 1 && data[0] === FULL_AUTH) {
            const r = fullAuth(p, 'caching_sha2_password', password, scramble);
            state = r.waitKey ? 'wait-key' : 'done';
            return r.send;
          }
          throw new Error(`${p.address}: unexpected caching_sha2_password packet`);
        }
        case 'wait-key':
          state = 'done';
          return encrypted(password, scramble, data);
        default:
          throw new Error(`${p.address}: unexpected caching_sha2_password packet after authentication`);
      }
    };
  };
}

function sha256Password(p: AuthPolicy): Plugin {
  return ({ connection }) => {
    const password = connection.config.password ?? '';
    let scramble = Buffer.alloc(20);
    let state: 'initial' | 'wait-key' | 'done' = 'initial';
    return (data) => {
      if (state === 'initial') {
        scramble = Buffer.from(data.subarray(0, 20));
        const r = fullAuth(p, 'sha256_password', password, scramble);
        state = r.waitKey ? 'wait-key' : 'done';
        // sha256_password asks for the key with a 1 byte, not caching_sha2's 2
        return r.waitKey ? Buffer.from([1]) : r.send;
      }
      if (state === 'wait-key') {
        state = 'done';
        return encrypted(password, scramble, data);
      }
      throw new Error(`${p.address}: unexpected sha256_password packet after authentication`);
    };
  };
}

/** mysql2 `authPlugins` that never give the password to a server that has not proven itself. */
export function authPlugins(p: AuthPolicy): Record<string, Plugin> {
  return { caching_sha2_password: cachingSha2(p), sha256_password: sha256Password(p) };
}
