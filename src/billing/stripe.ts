// Card payments through Stripe's official SDK: a PaymentIntent with capture_method manual authorises a hold at
// session start; at the CDR the total is captured (the part above the hold, if any, is charged off-session);
// a session with nothing to pay cancels the intent; refunds go through the Refunds API. The API base is
// configurable (the SDK's host, port and protocol options), for a proxy or a test server.
import Stripe from 'stripe';
import { PaymentDeclinedError, type PaymentContext, type PaymentProvider } from './payments.ts';

export interface StripeOptions {
  secretKey: string;
  /** e.g. https://api.stripe.com (default) or http://127.0.0.1:12111 */
  apiBase?: string;
  /** Per request, ms; a capture that times out is retried later by the payments queue. */
  timeoutMs?: number;
  maxNetworkRetries?: number;
}

export function stripeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): StripeOptions | undefined {
  if (!env.OPENCPO_STRIPE_SECRET_KEY) return undefined;
  return {
    secretKey: env.OPENCPO_STRIPE_SECRET_KEY,
    apiBase: env.OPENCPO_STRIPE_API_BASE,
    timeoutMs: env.OPENCPO_STRIPE_TIMEOUT_MS ? Number(env.OPENCPO_STRIPE_TIMEOUT_MS) : undefined,
  };
}

/** Stripe's card errors (402, e.g. card_declined) are declines: final. Everything else may be retried. */
function translate(err: unknown): Error {
  if (err instanceof Stripe.errors.StripeCardError || (err as { statusCode?: number })?.statusCode === 402) {
    const e = err as { message: string; code?: string; decline_code?: string };
    return new PaymentDeclinedError(e.message, e.decline_code ?? e.code);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export class StripeProvider implements PaymentProvider {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;

  constructor(options: StripeOptions) {
    const base = options.apiBase ? new URL(options.apiBase) : undefined;
    this.stripe = new Stripe(options.secretKey, {
      ...(base
        ? {
            host: base.hostname,
            port: base.port || (base.protocol === 'http:' ? 80 : 443),
            protocol: base.protocol.replace(':', '') as 'http' | 'https',
          }
        : {}),
      timeout: options.timeoutMs ?? 20_000,
      maxNetworkRetries: options.maxNetworkRetries ?? 0,
      telemetry: false,
    });
  }

  private customer(ctx: PaymentContext) {
    const { stripeCustomerId, stripePaymentMethodId } = ctx.account;
    if (!stripeCustomerId || !stripePaymentMethodId)
      throw new PaymentDeclinedError('account has no Stripe customer and payment method', 'no_payment_method');
    return { customer: stripeCustomerId, payment_method: stripePaymentMethodId };
  }

  async hold(ctx: PaymentContext, amountMinor: number) {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: amountMinor,
          currency: ctx.currency.toLowerCase(),
          ...this.customer(ctx),
          capture_method: 'manual',
          confirm: true,
          off_session: true,
          metadata: { transaction_id: ctx.transactionId },
        },
        { idempotencyKey: `hold-${ctx.paymentId}` },
      );
      return { ref: intent.id, amountMinor: intent.amount_capturable || amountMinor };
    } catch (err) {
      throw translate(err);
    }
  }

  async capture(ctx: PaymentContext, ref: string | null, heldMinor: number, amountMinor: number): Promise<void> {
    try {
      const fromHold = ref ? Math.min(amountMinor, heldMinor) : 0;
      if (ref && fromHold > 0)
        await this.stripe.paymentIntents.capture(
          ref,
          { amount_to_capture: fromHold },
          { idempotencyKey: `capture-${ctx.paymentId}` },
        );
      else if (ref) await this.stripe.paymentIntents.cancel(ref, {}, { idempotencyKey: `cancel-${ctx.paymentId}` });
      const rest = amountMinor - fromHold;
      if (rest > 0)
        await this.stripe.paymentIntents.create(
          {
            amount: rest,
            currency: ctx.currency.toLowerCase(),
            ...this.customer(ctx),
            confirm: true,
            off_session: true,
            metadata: { transaction_id: ctx.transactionId, part: 'above hold' },
          },
          { idempotencyKey: `rest-${ctx.paymentId}` },
        );
    } catch (err) {
      throw translate(err);
    }
  }

  async release(ctx: PaymentContext, ref: string | null): Promise<void> {
    if (!ref) return;
    try {
      await this.stripe.paymentIntents.cancel(ref, {}, { idempotencyKey: `cancel-${ctx.paymentId}` });
    } catch (err) {
      throw translate(err);
    }
  }

  async refund(ctx: PaymentContext, ref: string | null, amountMinor: number): Promise<void> {
    if (!ref) throw new Error('nothing to refund: no payment intent');
    try {
      // Each refund call is a new refund (partial refunds may repeat the same amount): no idempotency key.
      await this.stripe.refunds.create({
        payment_intent: ref,
        amount: amountMinor,
        metadata: { transaction_id: ctx.transactionId },
      });
    } catch (err) {
      throw translate(err);
    }
  }
}
