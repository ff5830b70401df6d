// E-mail delivery over SMTP, as an outbox channel: alert e-mails are queued with the change that caused them
// and sent by the outbox worker with its retries. nodemailer is the maintained SMTP client for Node (TLS,
// STARTTLS, auth, pooling); writing SMTP by hand would be a liability.
import nodemailer, { type Transporter } from 'nodemailer';
import type { OutboxMessage } from '../storage/outbox.ts';

export const EMAIL_CHANNEL = 'email';

export interface SmtpOptions {
  /** smtp://user:pass@host:port or smtps://… */
  url: string;
  from: string;
}

/** Reads OPENCPO_SMTP_URL and OPENCPO_SMTP_FROM; without a URL no e-mail channel runs (rows wait, none are lost). */
export function smtpOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SmtpOptions | undefined {
  if (!env.OPENCPO_SMTP_URL) return undefined;
  return { url: env.OPENCPO_SMTP_URL, from: env.OPENCPO_SMTP_FROM ?? 'opencpo@localhost' };
}

export function emailChannel(options: SmtpOptions): { send: (m: OutboxMessage) => Promise<void>; close: () => void } {
  const transport: Transporter = nodemailer.createTransport(options.url);
  return {
    async send(message) {
      const { to, subject, text } = message.payload as { to: string; subject: string; text: string };
      await transport.sendMail({
        from: options.from,
        to,
        subject,
        text,
        // The outbox delivery id doubles as the Message-ID, so a resend after a crash is recognisable.
        messageId: `<${message.deliveryId}@opencpo>`,
        headers: { 'X-OpenCPO-Delivery': message.deliveryId },
      });
    },
    close: () => transport.close(),
  };
}
