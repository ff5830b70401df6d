// Login attempts per account. The rate limiter counts login attempts per address, which an attacker spreading
// password guesses over many addresses escapes; this counts the attempts on each account (its e-mail, any case)
// wherever they come from, and once `limit` of them have not succeeded within the window, locks the account for
// the rest of it: even the right password is refused then, or the lock would tell the attacker when a guess was
// right. An attempt counts from its start (so parallel guesses cannot all slip in before the first fails); a
// successful login clears the count. Per process, like the rate limiter.
export interface FailedLoginsOptions {
  /** Attempts per account within the window that lock it unless one succeeds. */
  limit: number;
  windowMs?: number;
  /** Milliseconds since the epoch (the system clock unless a test sets one). */
  now?: () => number;
  /** Accounts tracked at most; beyond, the oldest are forgotten (a flood of made-up e-mails must not fill memory). */
  maxAccounts?: number;
}

export class FailedLogins {
  private readonly attempts = new Map<string, number[]>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly maxAccounts: number;

  constructor(private readonly options: FailedLoginsOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.maxAccounts = options.maxAccounts ?? 100_000;
  }

  /** Counts an attempt on the account: 0 to go ahead, or how many ms the account stays locked (nothing counted). */
  attempt(email: string): number {
    const key = email.toLowerCase();
    const now = this.now();
    const recent = (this.attempts.get(key) ?? []).filter((at) => at > now - this.windowMs);
    if (recent.length >= this.options.limit) return recent[recent.length - this.options.limit]! + this.windowMs - now;
    recent.push(now);
    this.attempts.delete(key); // re-inserted last: the map's order is the order of last attempt
    this.attempts.set(key, recent);
    if (this.attempts.size > this.maxAccounts) this.attempts.delete(this.attempts.keys().next().value!);
    return 0;
  }

  /** The attempt succeeded: the account's count starts again. */
  succeeded(email: string): void {
    this.attempts.delete(email.toLowerCase());
  }
}
