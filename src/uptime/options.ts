// Uptime and field-service settings from the environment, so an operator can tune what counts as downtime
// without code: the grace period for connection loss, what makes a boot loop or a run of failed sessions, and
// how long a resolved work order stays open to reopening. Bad values stop the start with the variable named.
import type { UptimeOptions } from './service.ts';

export interface UptimeSettings {
  uptime: UptimeOptions;
  reopenWindowMs: number;
  networkProvider: string;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function uptimeSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): UptimeSettings {
  return {
    uptime: {
      liveDelayMs: int(env, 'OPENCPO_UPTIME_LIVE_DELAY_MS', 3000, 0, 600_000),
      timeline: {
        offlineGraceMs: int(env, 'OPENCPO_OFFLINE_GRACE_S', 300, 0, 86_400) * 1000,
        bootLoopCount: int(env, 'OPENCPO_BOOT_LOOP_COUNT', 3, 2, 100),
        bootLoopWindowMs: int(env, 'OPENCPO_BOOT_LOOP_WINDOW_S', 600, 10, 86_400) * 1000,
        failedSessionCount: int(env, 'OPENCPO_FAILED_SESSION_COUNT', 3, 1, 100),
      },
    },
    reopenWindowMs: int(env, 'OPENCPO_WORK_ORDER_REOPEN_HOURS', 168, 0, 24 * 365) * 3600_000,
    networkProvider: env.OPENCPO_NETWORK_PROVIDER || 'opencpo',
  };
}
