/**
 * Optional payload encryption: every payload a switch writes to Temporal
 * (inputs, activity results, status) is sealed with AES-256-GCM before it
 * leaves the worker or client, so the server and its database see only
 * ciphertext. The Temporal UI shows decoded payloads through the codec
 * endpoint (client/codec-server.ts) to those allowed.
 *
 * Configured the same way for the worker, the CLI, the webhook and the codec
 * endpoint:
 *   DM_SWITCH_CODEC_KEY       base64 of 32 random bytes (or DM_SWITCH_CODEC_KEY_FILE)
 *   DM_SWITCH_CODEC_KEY_ID    names the key (default "default"); payloads record it
 *   DM_SWITCH_CODEC_OLD_KEYS  optional "id=base64,id=base64": keys still accepted for decoding (rotation)
 * Not for workflows (node:crypto): codecs run outside the workflow sandbox.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** common/sealed-failures.ts: failures' messages and stack traces encoded as payloads. */
export const sealedFailuresPath = fileURLToPath(new URL('../common/sealed-failures.ts', import.meta.url));

const ENCODING = 'binary/encrypted';
const text = new TextEncoder();
const untext = new TextDecoder();

export class CodecConfigError extends Error {
  override readonly name = 'CodecConfigError';
}

function key(b64: string, what: string): Buffer {
  const k = Buffer.from(b64.trim(), 'base64');
  if (k.length !== 32)
    throw new CodecConfigError(
      `${what} must be base64 of exactly 32 bytes (got ${k.length}); make one with: openssl rand -base64 32`,
    );
  return k;
}

export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly keyId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
  ) {
    if (!keys.has(keyId)) throw new CodecConfigError(`no key for the current key id "${keyId}"`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const k = this.keys.get(this.keyId)!;
    return payloads.map((p) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', k, iv);
      const sealed = Buffer.concat([
        iv,
        cipher.update(proto.temporal.api.common.v1.Payload.encode(p).finish()),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return {
        metadata: { encoding: text.encode(ENCODING), 'encryption-key-id': text.encode(this.keyId) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (!p.metadata?.encoding || untext.decode(p.metadata.encoding) !== ENCODING) return p;
      const id = p.metadata['encryption-key-id'] ? untext.decode(p.metadata['encryption-key-id']) : '';
      const k = this.keys.get(id);
      if (!k)
        throw new Error(
          `payload sealed with key "${id}", which this process does not have ` +
            `(DM_SWITCH_CODEC_KEY_ID / DM_SWITCH_CODEC_OLD_KEYS)`,
        );
      const data = Buffer.from(p.data ?? new Uint8Array());
      const decipher = createDecipheriv('aes-256-gcm', k, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      return proto.temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The codec the environment configures, or undefined when encryption is off. */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmCodec | undefined {
  let current = env.DM_SWITCH_CODEC_KEY;
  if (!current && env.DM_SWITCH_CODEC_KEY_FILE) {
    try {
      current = readFileSync(env.DM_SWITCH_CODEC_KEY_FILE, 'utf8');
    } catch (e) {
      throw new CodecConfigError(
        `cannot read DM_SWITCH_CODEC_KEY_FILE ${env.DM_SWITCH_CODEC_KEY_FILE}: ${(e as Error).message}`,
      );
    }
  }
  if (!current) return undefined;
  const keyId = env.DM_SWITCH_CODEC_KEY_ID || 'default';
  const keys = new Map([[keyId, key(current, 'DM_SWITCH_CODEC_KEY')]]);
  for (const pair of (env.DM_SWITCH_CODEC_OLD_KEYS ?? '').split(',').filter(Boolean)) {
    const [id, b64] = pair.split('=', 2);
    if (!id || !b64) throw new CodecConfigError(`DM_SWITCH_CODEC_OLD_KEYS: "${pair}" is not id=base64`);
    keys.set(id, key(pair.slice(id.length + 1), `DM_SWITCH_CODEC_OLD_KEYS entry ${id}`));
  }
  return new AesGcmCodec(keyId, keys);
}

/**
 * The data converter of an encrypting process: the codec for every payload,
 * and failures' messages and stack traces (which can carry dmctl's or a VIP
 * provider's stderr) moved into an encoded payload too
 * (`encodeCommonAttributes`), so the server keeps "Encoded failure" only.
 */
export function sealedDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: sealedFailuresPath };
}

/** The data converter for workers and clients: sealed when a codec is configured. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec ? sealedDataConverter(codec) : undefined;
}
