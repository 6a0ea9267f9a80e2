import { NotificationsServiceService } from "#gen/rag/v1/notifications.js";
import { parseEnv } from "#mesh/config.js";
import { openDatabase } from "#mesh/postgres.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { notificationsEnvSchema } from "./config.js";
import { backoff, Dispatcher } from "./dispatcher.js";
import { notificationsService } from "./handlers.js";
import { migrations } from "./migrations.js";
import { NotificationStore } from "./store.js";

await runService("notifications", async () => {
  const env = parseEnv(notificationsEnvSchema);
  const pool = await openDatabase(env.DATABASE_URL, migrations);
  const store = new NotificationStore(pool);
  const dispatcher = new Dispatcher(store, {
    concurrency: env.NOTIFICATIONS_CONCURRENCY,
    timeoutMs: env.NOTIFICATIONS_TIMEOUT_MS,
    pollMs: env.NOTIFICATIONS_POLL_MS,
    retentionDays: env.NOTIFICATIONS_RETENTION_DAYS,
    allowPrivate: env.NOTIFICATIONS_ALLOW_PRIVATE,
    userAgent: env.NOTIFICATIONS_USER_AGENT,
    policy: {
      maxAttempts: env.NOTIFICATIONS_MAX_ATTEMPTS,
      disableAfterFailures: env.NOTIFICATIONS_DISABLE_AFTER_FAILURES,
      backoffMs: backoff(env.NOTIFICATIONS_RETRY_BASE_MS, env.NOTIFICATIONS_RETRY_MAX_MS),
    },
  });
  dispatcher.start();
  return {
    services: [serve(NotificationsServiceService, notificationsService({ store, onQueued: () => dispatcher.kick(), destinations: { allowPrivate: env.NOTIFICATIONS_ALLOW_PRIVATE } }))],
    ready: async () => void (await pool.query("SELECT 1")),
    close: async () => {
      await dispatcher.stop();
      await pool.end();
    },
  };
});
