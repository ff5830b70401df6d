// Settings whose value is a secret: the charger's own OCPP Basic-auth password (1.6 configuration key
// AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword). Their values are never stored or shown: the command
// log, the audit log, the configuration keys and the device model keep a placeholder instead. A value the
// charger accepted becomes the station's password, stored hashed like any other.

/** Stands in for a secret value wherever settings are stored or shown. */
export const REDACTED = '(redacted)';

const PASSWORD_VARIABLES = new Set(['authorizationkey', 'basicauthpassword']);

/** True for the setting that holds the charger's Basic-auth password (in either version). */
export function isPasswordSetting(setting: { variable: string }): boolean {
  return PASSWORD_VARIABLES.has(setting.variable.toLowerCase());
}

/**
 * A copy of a command request or answer with the value of every password setting in its `settings` list
 * replaced (set-configuration requests, get-configuration answers); anything else is returned as it is.
 */
export function withoutSecrets<T>(subject: T): T {
  const settings = (subject as { settings?: unknown } | null | undefined)?.settings;
  if (!Array.isArray(settings)) return subject;
  return {
    ...subject,
    settings: settings.map((s: { variable?: unknown; value?: unknown }) =>
      typeof s?.variable === 'string' && isPasswordSetting({ variable: s.variable }) && typeof s.value === 'string'
        ? { ...s, value: REDACTED }
        : s,
    ),
  };
}
