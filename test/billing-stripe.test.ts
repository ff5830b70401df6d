// The Stripe path through the official SDK against a local HTTP server that answers with Stripe's documented
// shapes (PaymentIntent, Refund, card_error 402) — the only stand-in: no payment network is reachable here.
// Covers: pre-authorisation at start (capture_method manual), capture of the CDR total, a decline, a capture
// that times out and is retried from the durable queue, and a refund.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { StripeProvider } from '../src/billing/stripe.ts';
import type { Account } from '../src/billing/accounts.ts';

interface Intent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  currency: string;
  capture_method: string;
  status: string;
  customer: string;
  payment_method: string;
  metadata: Record<string, string>;
}

/** A Stripe-shaped API: form-encoded requests, JSON answers, Bearer secret key. */
class FakeStripe {
  server = http.createServer((req, res) => void this.handle(req, res));
  intents = new Map<string, Intent>();
  refunds: { id: string; amount: number; payment_intent: string }[] = [];
  requests: { method: string; path: string; body: URLSearchParams; idempotencyKey?: string }[] = [];
  /** When set, capture requests are never answered (a network timeout). */
  hangCaptures = false;
  private n = 0;

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = new URLSearchParams(raw);
    const path = req.url ?? '';
    this.requests.push({
      method: req.method ?? '',
      path,
      body,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
    });
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${++this.n}` });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== 'Bearer sk_test_local') {
      return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }
    let m: RegExpMatchArray | null;
    if (req.method === 'POST' && path === '/v1/payment_intents') {
      if (body.get('payment_method') === 'pm_card_visa_chargeDeclined') {
        return send(402, {
          error: {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'generic_decline',
            message: 'Your card was declined.',
          },
        });
      }
      const manual = body.get('capture_method') === 'manual';
      const amount = Number(body.get('amount'));
      const intent: Intent = {
        id: `pi_${++this.n}`,
        object: 'payment_intent',
        amount,
        amount_capturable: manual ? amount : 0,
        amount_received: manual ? 0 : amount,
        currency: body.get('currency')!,
        capture_method: manual ? 'manual' : 'automatic',
        status: manual ? 'requires_capture' : 'succeeded',
        customer: body.get('customer')!,
        payment_method: body.get('payment_method')!,
        metadata: { transaction_id: body.get('metadata[transaction_id]') ?? '' },
      };
      this.intents.set(intent.id, intent);
      return send(200, intent);
    }
    if (req.method === 'POST' && (m = path.match(/^\/v1\/payment_intents\/(pi_\d+)\/capture$/))) {
      if (this.hangCaptures) return; // never answered
      const intent = this.intents.get(m[1]!);
      if (!intent || intent.status !== 'requires_capture')
        return send(400, { error: { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' } });
      const amount = Number(body.get('amount_to_capture') ?? intent.amount);
      Object.assign(intent, { status: 'succeeded', amount_received: amount, amount_capturable: 0 });
      return send(200, intent);
    }
    if (req.method === 'POST' && (m = path.match(/^\/v1\/payment_intents\/(pi_\d+)\/cancel$/))) {
      const intent = this.intents.get(m[1]!);
      if (!intent) return send(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
      Object.assign(intent, { status: 'canceled', amount_capturable: 0 });
      return send(200, intent);
    }
    if (req.method === 'POST' && path === '/v1/refunds') {
      const refund = {
        id: `re_${++this.n}`,
        object: 'refund',
        amount: Number(body.get('amount')),
        payment_intent: body.get('payment_intent')!,
        status: 'succeeded',
        currency: 'eur',
      };
      this.refunds.push(refund);
      return send(200, refund);
    }
    send(404, {
      error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path})` },
    });
  }
}

for (const backend of BACKENDS) {
  describe(`Stripe payments on ${backend}`, () => {
    let server: TestServer;
    const stripe = new FakeStripe();
    let card: Account;
    let declined: Account;

    before(async () => {
      const base = await stripe.start();
      server = await startTestServer(backend);
      server.app.billing.usePaymentProvider(
        new StripeProvider({ secretKey: 'sk_test_local', apiBase: base, timeoutMs: 300 }),
      );
      card = await server.app.billing.accounts.create({
        kind: 'driver',
        name: 'Card driver',
        currency: 'EUR',
        paymentMethod: 'stripe',
        stripeCustomerId: 'cus_1',
        stripePaymentMethodId: 'pm_card_visa',
      });
      declined = await server.app.billing.accounts.create({
        kind: 'driver',
        name: 'Declined driver',
        currency: 'EUR',
        paymentMethod: 'stripe',
        stripeCustomerId: 'cus_2',
        stripePaymentMethodId: 'pm_card_visa_chargeDeclined',
      });
    });
    after(async () => {
      await server.stop();
      await stripe.stop();
    });

    it('pre-authorises at start with capture_method manual and captures the CDR total', async () => {
      const payments = server.app.billing.payments;
      const held = await payments.sessionStarted('tx-card-1', card);
      assert.equal(held?.status, 'held');
      const create = stripe.requests.find((r) => r.path === '/v1/payment_intents')!;
      assert.equal(create.body.get('capture_method'), 'manual');
      assert.equal(create.body.get('amount'), '5000');
      assert.equal(create.body.get('currency'), 'eur');
      assert.equal(create.body.get('customer'), 'cus_1');
      assert.ok(create.idempotencyKey, 'sent with an idempotency key');
      const intentId = held!.provider_ref!;
      assert.equal(stripe.intents.get(intentId)?.status, 'requires_capture');

      const settled = await payments.settle('tx-card-1', card, 1234);
      assert.equal(settled?.status, 'captured');
      assert.equal(Number(settled?.captured_amount), 1234);
      assert.equal(stripe.intents.get(intentId)?.status, 'succeeded');
      assert.equal(stripe.intents.get(intentId)?.amount_received, 1234);

      const refunded = await payments.refund('tx-card-1', 234);
      assert.equal(Number(refunded.refunded_amount), 234);
      assert.deepEqual(
        stripe.refunds.map((r) => [r.payment_intent, r.amount]),
        [[intentId, 234]],
      );
    });

    it('a declined card (402 card_declined) does not stop the session; the capture is declined and recorded', async () => {
      const payments = server.app.billing.payments;
      const held = await payments.sessionStarted('tx-declined', declined);
      assert.equal(held?.status, 'hold_failed');
      assert.match(held?.last_error ?? '', /declined/);
      const settled = await payments.settle('tx-declined', declined, 900);
      assert.equal(settled?.status, 'capture_failed', 'a decline is final: no retry loop');
      assert.equal(settled?.next_attempt_at, null);
    });

    it('a capture that times out is queued durably and captured on retry', async () => {
      const payments = server.app.billing.payments;
      await payments.sessionStarted('tx-timeout', card);
      stripe.hangCaptures = true;
      const pending = await payments.settle('tx-timeout', card, 777);
      assert.equal(pending?.status, 'capture_pending');
      assert.equal(pending?.attempts, 1);
      assert.ok(pending?.next_attempt_at, 'a retry is scheduled');
      assert.match(pending?.last_error ?? '', /timed out|timeout|ETIMEDOUT|ECONNRESET|connection/i);
      // The queue lives in the database: the row is all a retry needs (after a restart too).
      stripe.hangCaptures = false;
      assert.equal(await payments.retryDue(new Date(Date.now() + 24 * 3_600_000)), 1);
      const captured = await payments.get('tx-timeout');
      assert.equal(captured?.status, 'captured');
      assert.equal(captured?.attempts, 2);
      assert.equal(stripe.intents.get(captured!.provider_ref!)?.amount_received, 777);
    });

    it('a session with nothing to pay cancels the authorisation', async () => {
      const payments = server.app.billing.payments;
      const held = await payments.sessionStarted('tx-free', card);
      const released = await payments.settle('tx-free', card, 0);
      assert.equal(released?.status, 'released');
      assert.equal(stripe.intents.get(held!.provider_ref!)?.status, 'canceled');
    });
  });
}
