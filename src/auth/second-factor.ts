// Time-based one-time passwords (RFC 6238) as a second factor for local accounts' web and API logins.
// Secrets are sealed with the master key; a code is accepted once (the last used time step is stored).
import * as OTPAuth from 'otpauth';
import type { Db } from '../db/database.js';
import type { SecretBox } from '../lib/secret-box.js';
import { SYSTEM_CONTEXT, type Journal, type RequestContext } from '../audit/journal.js';
import type { Transact } from './accounts.js';
import { BerthError } from '../errors/berth-error.js';
import { clearTotp, enableTotp, findUserName, setPendingTotp, totpSecrets, useTotpStep } from '../db/users.js';

const PERIOD = 30;
const CODE = /^\d{6}$/;

export class SecondFactor {
  constructor(private readonly db: Db, private readonly box: SecretBox, private readonly issuer: string, private readonly transact: Transact, private readonly journal: Journal) {}

  private totp(secret: string, label: string): OTPAuth.TOTP {
    return new OTPAuth.TOTP({ issuer: this.issuer, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: OTPAuth.Secret.fromBase32(secret) });
  }

  private context(userId: number): string {
    return `totp:${userId}`;
  }

  /** Starts enrollment: a new secret, not yet in force until `confirm` sees a code made from it. */
  async begin(userId: number, userName: string): Promise<{ secret: string; uri: string }> {
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    await setPendingTotp(this.db, userId, this.box.seal(secret, this.context(userId)));
    return { secret, uri: this.totp(secret, userName).toString() };
  }

  /** Completes enrollment with a code from the authenticator app; false when the code does not match. */
  async confirm(userId: number, userName: string, code: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<boolean> {
    const pending = (await totpSecrets(this.db, userId))?.pending;
    if (!pending) throw new BerthError('SECOND_FACTOR_NOT_STARTED');
    const secret = this.box.open(pending, this.context(userId));
    const step = this.match(secret, userName, code);
    if (step === null) return false;
    await this.transact(async (tx) => {
      await enableTotp(tx, userId, pending, step);
      await this.journal.write(tx, ctx, [{ action: 'user.totp.enable', resource: `user:${userName}` }]);
    });
    return true;
  }

  async enabled(userId: number): Promise<boolean> {
    return Boolean((await totpSecrets(this.db, userId))?.active);
  }

  async disable(userId: number, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.transact(async (tx) => {
      await clearTotp(tx, userId);
      const name = await findUserName(tx, userId);
      await this.journal.write(tx, ctx, [{ action: 'user.totp.disable', resource: `user:${name ?? userId}` }]);
    });
  }

  /** Checks a login code. Each code works once: a replayed or older code is refused, also across processes. */
  async verify(userId: number, userName: string, code: string): Promise<boolean> {
    const active = (await totpSecrets(this.db, userId))?.active;
    if (!active) return false;
    const step = this.match(this.box.open(active, this.context(userId)), userName, code);
    if (step === null) return false;
    return useTotpStep(this.db, userId, step);
  }

  /** The time step a code belongs to (one step of clock drift either way), or null. */
  private match(secret: string, userName: string, code: string): number | null {
    if (!CODE.test(code)) return null;
    const now = Date.now();
    const delta = this.totp(secret, userName).validate({ token: code, timestamp: now, window: 1 });
    return delta === null ? null : Math.floor(now / 1000 / PERIOD) + delta;
  }
}
