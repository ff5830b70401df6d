// What /health answers: whether this node can work, from probes of what it depends on (the database; NATS
// when there is one). A load balancer polls it every few seconds, so it must cost next to nothing: one run of
// the probes serves every request for `cacheMs`, concurrent requests share the run under way, and a probe
// that hangs (a database that stopped answering) is waited for again by the next run instead of being
// started once more, so hung probes never pile up.

/** Resolves when the dependency works; rejects (or never settles) when it does not. */
export type Probe = () => Promise<unknown>;

export interface CheckResult {
  ok: boolean;
  /** Why not, when not: the probe's error, or that it did not answer in time. */
  error?: string;
}

export interface HealthReport {
  ok: boolean;
  checks: Record<string, CheckResult>;
}

export interface HealthOptions {
  /** How long a probe may take before its dependency counts as down, ms. */
  timeoutMs?: number;
  /** How long one run's report is served, ms. */
  cacheMs?: number;
}

export class Health {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private last: { at: number; report: HealthReport } | undefined;
  private running: Promise<HealthReport> | undefined;
  /** Each probe's run still waiting for its answer (past its timeout, too). */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly probes: Record<string, Probe>,
    options: HealthOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.cacheMs = options.cacheMs ?? 1000;
  }

  report(): Promise<HealthReport> {
    if (this.last && performance.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.report);
    this.running ??= this.run().then((report) => {
      this.last = { at: performance.now(), report };
      this.running = undefined;
      return report;
    });
    return this.running;
  }

  private async run(): Promise<HealthReport> {
    const names = Object.keys(this.probes);
    const results = await Promise.all(names.map((name) => this.check(name)));
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
    return { ok: results.every((r) => r.ok), checks };
  }

  private async check(name: string): Promise<CheckResult> {
    let answer = this.inFlight.get(name);
    if (!answer) {
      answer = this.probes[name]!();
      this.inFlight.set(name, answer);
      const settled = answer;
      void settled.then(
        () => this.inFlight.delete(name),
        () => this.inFlight.delete(name),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${this.timeoutMs} ms` }), this.timeoutMs);
    });
    try {
      return await Promise.race([answer.then((): CheckResult => ({ ok: true })), timeout]);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
