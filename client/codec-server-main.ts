/** The codec endpoint process (client/codec-server.ts): `npm run codec-server`. */
import { codecFromEnv } from './codec.js';
import { checkCodecListen, codecHosts, CodecListenError, createCodecServer } from './codec-server.js';

const codec = codecFromEnv();
if (!codec) {
  console.error(
    'dm-switch codec server: set DM_SWITCH_CODEC_KEY (or DM_SWITCH_CODEC_KEY_FILE): ' +
      'there is nothing to decode without a key',
  );
  process.exit(2);
}
const [host = '127.0.0.1', port = '8888'] = (process.env.DM_SWITCH_CODEC_LISTEN ?? '127.0.0.1:8888').split(/:(?=\d+$)/);
try {
  checkCodecListen(host, process.env.DM_SWITCH_CODEC_TOKEN);
} catch (e) {
  if (!(e instanceof CodecListenError)) throw e;
  console.error(`dm-switch codec server: ${e.message}`);
  process.exit(2);
}
const list = (v: string | undefined) => (v ?? '').split(',').filter(Boolean);
const app = createCodecServer({
  codec,
  token: process.env.DM_SWITCH_CODEC_TOKEN,
  corsOrigins: list(process.env.DM_SWITCH_CODEC_CORS),
  // the names a browser may use for it (e.g. behind a proxy); anything else is refused (DNS rebinding)
  allowedHosts: codecHosts(host, Number(port), list(process.env.DM_SWITCH_CODEC_HOSTS)),
});
await app.listen({ host, port: Number(port) });
console.log(`dm-switch codec server on http://${host}:${port}`);
