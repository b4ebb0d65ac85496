/**
 * Every activity heartbeats while it runs, so that a worker that dies
 * (kill -9, a lost host) is noticed within the activity's heartbeat timeout
 * and the activity is retried on another worker at once, instead of after its
 * whole start-to-close timeout. Activities that heartbeat themselves keep
 * their progress details: the keep-alive re-sends the last ones.
 */
import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';

export const KEEPALIVE_MS = 2_000;

export function keepAliveInterceptor(ctx: Context): ActivityInboundCallsInterceptor {
  return {
    async execute(input, next) {
      if (!ctx.info.heartbeatTimeoutMs) return next(input);
      const own = ctx.heartbeat.bind(ctx);
      let last: unknown;
      let lastAt = Date.now();
      Object.defineProperty(ctx, 'heartbeat', {
        configurable: true,
        value: (details?: unknown) => {
          last = details;
          lastAt = Date.now();
          own(details);
        },
      });
      const timer = setInterval(() => {
        if (Date.now() - lastAt >= KEEPALIVE_MS) ctx.heartbeat(last);
      }, KEEPALIVE_MS / 2);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  };
}
