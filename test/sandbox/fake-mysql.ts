/**
 * A FAKE MySQL server, for the one fault no real server produces: a host that
 * pretends to be MySQL to collect passwords. It speaks just enough of the
 * protocol (handshake v10, an auth switch to caching_sha2_password, "perform
 * full authentication") to ask the client for the password in full, hands
 * out its own RSA key when asked for the server's, decrypts what comes back,
 * and records every connection and every packet. It never accepts a login.
 */
import { generateKeyPairSync, privateDecrypt, constants, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { CAPS, handshakeV10, packet } from './mysql-wire.js';

export interface FakeMysqlServer {
  host: string;
  port: number;
  /** Connections accepted (a TCP connect counts, whatever followed). */
  connections: number;
  /** Packets the clients sent after the handshake response, in order (hex of the payload). */
  packets: string[];
  /** Passwords recovered: sent in clear, or encrypted with the key this server handed out. */
  captured: string[];
  /** Times a client asked for the server's RSA public key. */
  keyRequests: number;
  /** The user name of every login attempt (from the handshake response). */
  users: string[];
  stop(): Promise<void>;
}

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i % b.length]!));
}

/** Starts the fake on `host` (a loopback address) and a free port. */
export async function startFakeMysql(host = '127.0.0.1'): Promise<FakeMysqlServer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const sockets = new Set<Socket>();
  const state = {
    connections: 0,
    packets: [] as string[],
    captured: [] as string[],
    keyRequests: 0,
    users: [] as string[],
  };

  const serve = (socket: Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const scramble = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33)); // printable, no NUL, as MySQL's
    let buffered = Buffer.alloc(0);
    let step: 'response' | 'switched' | 'full' | 'key-sent' | 'done' = 'response';
    socket.write(
      packet(
        0,
        handshakeV10({
          version: '9.7.4-fake',
          scramble,
          connectionId: 1,
          capabilities: CAPS,
          collation: 255,
          plugin: 'caching_sha2_password',
        }),
      ),
    );
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const len = buffered.readUIntLE(0, 3);
        if (buffered.length < 4 + len) return;
        const seq = buffered[3]!;
        const payload = buffered.subarray(4, 4 + len);
        buffered = buffered.subarray(4 + len);
        if (step === 'response') {
          // HandshakeResponse41: flags, max packet, charset, 23 bytes of filler, then the user name
          const end = payload.indexOf(0, 32);
          state.users.push(payload.subarray(32, end < 0 ? undefined : end).toString('utf8'));
          // whatever the client answered first: switch it to caching_sha2_password with a fresh scramble
          step = 'switched';
          socket.write(
            packet(
              seq + 1,
              Buffer.concat([Buffer.from([0xfe]), Buffer.from('caching_sha2_password\0'), scramble, Buffer.from([0])]),
            ),
          );
          continue;
        }
        state.packets.push(payload.toString('hex'));
        if (step === 'switched') {
          // the scramble token: ask for the password in full ("perform full authentication")
          step = 'full';
          socket.write(packet(seq + 1, Buffer.from([0x01, 0x04])));
          continue;
        }
        if (step === 'full' && payload.length === 1 && payload[0] === 2) {
          state.keyRequests++;
          step = 'key-sent';
          socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0x01]), Buffer.from(pem)])));
          continue;
        }
        if (step === 'key-sent') {
          const plain = privateDecrypt(
            { key: privateKey, oaepHash: 'sha1', padding: constants.RSA_PKCS1_OAEP_PADDING },
            payload,
          );
          state.captured.push(xor(plain, scramble).toString('utf8').replace(/\0$/, ''));
        } else if (step === 'full') {
          state.captured.push(payload.toString('utf8').replace(/\0$/, ''));
        }
        step = 'done';
        const err = Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied (fake server)')]);
        socket.end(packet(seq + 1, err));
      }
    });
  };

  const server: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    get connections() {
      return state.connections;
    },
    get packets() {
      return state.packets;
    },
    get captured() {
      return state.captured;
    },
    get keyRequests() {
      return state.keyRequests;
    },
    get users() {
      return state.users;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
