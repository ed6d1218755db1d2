// Audit export to a SIEM over syslog: RFC 5424 messages, octet-counted framing (RFC 6587 §3.4.1, the
// framing RFC 5425 §4.3 mandates over TLS), over TCP or TLS. The reader of the audit log (after its
// persisted cursor) owns delivery semantics; this file only formats and transports. `send` resolves only
// once every frame is handed to the kernel, so the caller can advance its cursor (at-least-once).
import net from 'node:net';
import tls from 'node:tls';

export interface AuditRecordForSyslog {
  seq: number; at: number /* ms epoch */; actor: string; actorSource: string; address: string; userAgent: string;
  action: string; resource: string; outcome: 'success' | 'failure' | 'denied'; requestId: string; hash: string;
  /** null accepted too: the journal's AuditRecord stores "no detail" as null */
  detail?: Record<string, unknown> | null;
}

export interface SyslogFormatOptions {
  hostname: string;
  /** APP-NAME, default 'berth' */
  appName?: string;
  /** PROCID, default NILVALUE (the hostname already tells instances apart) */
  procId?: string;
  /**
   * Default 10 (security/authorization, "authpriv" on Linux): stock rsyslog/syslog-ng rules route it to
   * root-only files (/var/log/secure, auth.log) and IHE ATNA audit uses it too. 13 ("log audit") has no
   * name in glibc's <syslog.h> and no default routing; pass it explicitly if the SIEM expects it.
   */
  facility?: number;
  /** SD-ID is `berth@<enterpriseId>`; default 32473, the PEN reserved for documentation (RFC 5612) */
  enterpriseId?: string;
  /**
   * Upper bound for the whole message in octets, default 8192 (what RFC 5425 §4.3.1 says receivers SHOULD
   * accept). Only MSG is cut to fit (at a character boundary, ending in "…"): the header and the
   * structured data carry the fields a SIEM indexes and are never dropped.
   */
  maxBytes?: number;
}

const NIL = '-';
const BOM = '\uFEFF';
const ELLIPSIS = '…';
/** A cap per SD value, so that one hostile field (a user agent, say) cannot crowd out the rest. */
const SD_VALUE_MAX_BYTES = 2048;

// success is "normal but significant" (notice); a failure or a denial is what a SIEM alerts on (warning).
const SEVERITY: Record<AuditRecordForSyslog['outcome'], number> = { success: 5, failure: 4, denied: 4 };
const OUTCOME_WORDS: Record<AuditRecordForSyslog['outcome'], string> = { success: 'succeeded', failure: 'failed', denied: 'was denied' };

/** HOSTNAME, APP-NAME, PROCID, MSGID: 1..max PRINTUSASCII (%d33-126), else NILVALUE (RFC 5424 §6.2). */
function headerField(value: string | undefined, max: number): string {
  const v = (value ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return v === '' ? NIL : v;
}

/** Cuts a string to at most `max` UTF-8 octets without splitting a character, marking the cut. */
export function truncateUtf8(s: string, max: number, marker = ELLIPSIS): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  const budget = max - Buffer.byteLength(marker, 'utf8');
  if (budget < 0) return '';
  let used = 0;
  let end = 0;
  for (const ch of s) { // by code point, so a surrogate pair is never split
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > budget) break;
    used += n;
    end += ch.length;
  }
  return s.slice(0, end) + marker;
}

/** RFC 5424 §6.3.3: '"', '\' and ']' MUST be escaped with a backslash; everything else is UTF-8 as is. */
function escapeParamValue(v: string): string {
  return truncateUtf8(v, SD_VALUE_MAX_BYTES).replace(/["\\\]]/g, '\\$&');
}

/** RFC 5424 §6.4: MSG SHOULD avoid octets below 32; replaced so a SIEM's line-oriented tools stay sane. */
const printable = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, '\uFFFD');

/** RFC 3339 UTC with milliseconds (upper-case T and Z, §6.2.3), or NILVALUE for an unusable clock value. */
function timestamp(ms: number): string {
  if (!Number.isFinite(ms)) return NIL;
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  return Number.isNaN(d.getTime()) || year < 0 || year > 9999 ? NIL : d.toISOString();
}

function detailJson(detail: Record<string, unknown> | null | undefined): string | undefined {
  if (detail === undefined || detail === null) return undefined;
  try {
    return JSON.stringify(detail);
  } catch {
    // cycles or BigInt: say so rather than fail the export (the database row stays authoritative)
    return '{"_unserializable":true}';
  }
}

/** One RFC 5424 SYSLOG-MSG (without framing) for one audit record. */
export function formatSyslog(r: AuditRecordForSyslog, opts: SyslogFormatOptions): string {
  const facility = opts.facility ?? 10;
  if (!Number.isInteger(facility) || facility < 0 || facility > 23) throw new RangeError('syslog facility must be an integer 0..23');
  const enterpriseId = opts.enterpriseId ?? '32473';
  // SD-ID = name@PEN, PEN a dotted number, the whole an SD-NAME of at most 32 characters (§6.3.2, §7.2.2)
  if (!/^[0-9]+(\.[0-9]+)*$/.test(enterpriseId) || `berth@${enterpriseId}`.length > 32) throw new RangeError('syslog enterpriseId must be a private enterprise number such as 32473');
  const maxBytes = opts.maxBytes ?? 8192;
  if (!Number.isInteger(maxBytes) || maxBytes < 480) throw new RangeError('syslog maxBytes must be an integer >= 480 (RFC 5424 §6.1)');

  const severity = SEVERITY[r.outcome] ?? 4; // an outcome the type does not know (from a newer row) is worth a look
  const header = [
    `<${facility * 8 + severity}>1`,
    timestamp(r.at),
    headerField(opts.hostname, 255),
    headerField(opts.appName ?? 'berth', 48),
    headerField(opts.procId, 128),
    headerField(r.action, 32),
  ].join(' ');

  // Every field the record's hash covers is here verbatim (detail is in MSG, the previous hash is the
  // previous seq's), so a SIEM can re-verify the chain. PARAM-NAMEs are fixed, all well under 32 chars.
  const params: [string, string][] = [
    ['seq', String(r.seq)], ['actor', r.actor], ['source', r.actorSource], ['addr', r.address], ['outcome', r.outcome],
    ['resource', r.resource], ['requestId', r.requestId], ['hash', r.hash], ['action', r.action], ['userAgent', r.userAgent],
  ];
  const sd = `[berth@${enterpriseId}${params.map(([k, v]) => ` ${k}="${escapeParamValue(String(v ?? ''))}"`).join('')}]`;

  const what = r.resource ? `${r.action} on ${r.resource}` : r.action;
  const sentence = printable(`${what} by ${r.actor || 'anonymous'} ${OUTCOME_WORDS[r.outcome] ?? r.outcome}`);
  const json = detailJson(r.detail);
  const text = json === undefined ? sentence : `${sentence} ${json}`;

  const head = `${header} ${sd}`;
  const room = maxBytes - Buffer.byteLength(head, 'utf8') - 1 /* SP */ - 3 /* BOM */;
  if (room < 16) return head; // [SP MSG] is optional; better no MSG than a stump
  return `${head} ${BOM}${truncateUtf8(text, room)}`;
}

// ---------------------------------------------------------------------------------------------------------

export interface SyslogTarget {
  host: string;
  port: number;
  tls?: { ca?: string /* PEM */; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean /* default true */ };
  /** Budget for getting a connection (TCP + TLS handshake, retries included), default 5000 ms. */
  connectTimeoutMs?: number;
  /** Longest wait for the kernel to take the next chunk (no progress), default 15000 ms. */
  writeTimeoutMs?: number;
}

export type SyslogErrorCode = 'unreachable' | 'tls' | 'connection-lost' | 'write-timeout' | 'closed' | 'invalid-message';

/** Says what failed and where, never what was being sent. */
export class SyslogError extends Error {
  constructor(readonly code: SyslogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyslogError';
  }
}

type Sock = net.Socket | tls.TLSSocket;

/** Frames are coalesced into writes of about this size: few syscalls, bounded memory. */
const CHUNK_BYTES = 64 * 1024;
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 1000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nextTick = () => new Promise<void>((r) => setImmediate(r));
function reason(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as NodeJS.ErrnoException).code;
  return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
}
/** errno codes (ECONNRESET, EPIPE…) are transient; TLS codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_SSL_…) are not. */
const isTlsFailure = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && !/^E[A-Z]+$/.test(code);
};

export class SyslogSender {
  private socket: Sock | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly where: string;
  private readonly connectTimeoutMs: number;
  private readonly writeTimeoutMs: number;

  constructor(private readonly target: SyslogTarget) {
    if (!target.host || !Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new RangeError('syslog target needs a host and a port 1..65535');
    this.where = `${target.tls ? 'tls' : 'tcp'}://${net.isIPv6(target.host) ? `[${target.host}]` : target.host}:${target.port}`;
    this.connectTimeoutMs = target.connectTimeoutMs ?? 5000;
    this.writeTimeoutMs = target.writeTimeoutMs ?? 15000;
    for (const ms of [this.connectTimeoutMs, this.writeTimeoutMs]) if (!Number.isFinite(ms) || ms <= 0) throw new RangeError('syslog timeouts must be positive numbers of milliseconds');
  }

  /**
   * Writes the messages, octet-counted ("LEN SP MSG", LEN in octets of UTF-8), in order, and resolves once
   * all are handed to the kernel. Concurrent calls are queued, so order holds across calls too. Rejects
   * (SyslogError) if the target cannot be reached or the connection fails midway; some of the messages
   * may then have arrived, so the caller resends all of them later (at-least-once; `seq` deduplicates).
   */
  send(messages: string[]): Promise<void> {
    if (this.closed) return Promise.reject(new SyslogError('closed', `syslog sender for ${this.where} is closed`));
    const run = this.tail.then(() => this.sendNow(messages));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Waits for queued sends, then ends the connection politely (TLS close_notify, TCP FIN). */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    const sock = this.socket;
    this.socket = null;
    if (!sock || sock.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => sock.destroy(), this.writeTimeoutMs);
      sock.once('close', () => { clearTimeout(timer); resolve(); });
      sock.end();
    });
  }

  private async sendNow(messages: string[]): Promise<void> {
    // Check everything before the first byte goes out, so a bad batch sends nothing. Encoding happens per
    // chunk, so memory holds the caller's strings plus one chunk, whatever the batch size.
    messages.forEach((m, i) => {
      // MSG-LEN is NONZERO-DIGIT *DIGIT: an empty message cannot be framed
      if (typeof m !== 'string' || m.length === 0) throw new SyslogError('invalid-message', `syslog message #${i} is empty or not a string`);
    });
    if (messages.length === 0) return;

    const sock = await this.connection();
    let chunk: Buffer[] = [];
    let size = 0;
    let written = 0;
    for (let i = 0; i < messages.length; i++) {
      const body = Buffer.from(messages[i], 'utf8');
      const len = Buffer.from(`${body.length} `, 'latin1'); // octets, not characters (RFC 6587 §3.4.1)
      chunk.push(len, body);
      size += len.length + body.length;
      if (size >= CHUNK_BYTES || i === messages.length - 1) {
        await this.write(sock, Buffer.concat(chunk, size), written, messages.length);
        written = i + 1;
        chunk = [];
        size = 0;
      }
    }
  }

  /** Resolves when the kernel has the bytes: no more than one chunk is ever buffered in the process. */
  private write(sock: Sock, data: Buffer, done: number, total: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: SyslogError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.off('close', onClose);
        if (err) {
          this.drop(sock);
          reject(err);
        } else {
          resolve();
        }
      };
      const lost = (cause?: unknown) => new SyslogError('connection-lost', `syslog connection to ${this.where} lost after ${done} of ${total} messages were written${cause ? ` (${reason(cause)})` : ''}`, { cause });
      const onClose = () => settle(lost());
      const timer = setTimeout(() => settle(new SyslogError('write-timeout', `syslog target ${this.where} took no data for ${this.writeTimeoutMs} ms (${done} of ${total} messages written)`)), this.writeTimeoutMs);
      sock.once('close', onClose);
      sock.write(data, (err) => settle(err ? lost(err) : undefined));
    });
  }

  /** The live connection, or a new one (retried with a bounded backoff within connectTimeoutMs). */
  private async connection(): Promise<Sock> {
    if (this.socket) {
      // One turn of the event loop lets a FIN or RST that already arrived mark the socket dead, so we do
      // not write into a connection the server closed between sends (those bytes would be lost silently).
      await nextTick();
      const s = this.socket;
      if (s && !s.destroyed && s.writable && !s.readableEnded && s.readyState === 'open') return s;
      this.drop(s);
    }
    const deadline = Date.now() + this.connectTimeoutMs;
    let delay = BACKOFF_FIRST_MS;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        this.socket = await this.connectOnce(deadline - Date.now());
        return this.socket;
      } catch (e) {
        if (e instanceof SyslogError) throw e;
        const wait = Math.min(delay, deadline - Date.now());
        if (wait <= 0) throw new SyslogError('unreachable', `syslog target ${this.where} not reachable within ${this.connectTimeoutMs} ms after ${attempts} attempt(s): ${reason(e)}`, { cause: e });
        await sleep(wait);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
  }

  private connectOnce(timeoutMs: number): Promise<Sock> {
    const { host, port } = this.target;
    const t = this.target.tls;
    return new Promise<Sock>((resolve, reject) => {
      let tcpUp = false;
      const sock: Sock = t
        ? tls.connect({
          host, port, ca: t.ca, cert: t.cert, key: t.key, minVersion: 'TLSv1.2',
          rejectUnauthorized: t.rejectUnauthorized ?? true,
          // SNI carries DNS names only (RFC 6066); for an IP address the certificate is matched to the IP.
          servername: t.servername ?? (net.isIP(host) ? undefined : host),
        })
        : net.connect({ host, port });
      const fail = (e: unknown) => {
        clearTimeout(timer);
        sock.destroy();
        // A certificate or TLS-version problem will not go away by asking again; a reset or timeout may.
        reject(t && tcpUp && isTlsFailure(e) ? new SyslogError('tls', `TLS handshake with syslog target ${this.where} failed: ${reason(e)}`, { cause: e }) : e);
      };
      const onError = (e: Error) => fail(e);
      const onClose = () => fail(new Error('connection closed during connect'));
      const timer = setTimeout(() => fail(new Error(`timed out after ${Math.max(0, Math.round(timeoutMs))} ms`)), Math.max(1, timeoutMs));
      sock.once('connect', () => { tcpUp = true; });
      sock.once('error', onError);
      sock.once('close', onClose);
      sock.once(t ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('close', onClose);
        sock.setNoDelay(true);
        sock.setKeepAlive(true, 30_000); // notices a peer that vanished without FIN
        // A syslog collector sends nothing; reading (and discarding) is how its FIN becomes 'end'.
        sock.on('data', () => undefined);
        sock.on('end', () => this.drop(sock));
        sock.on('error', () => this.drop(sock)); // the pending write reports it; never an unhandled 'error'
        sock.on('close', () => this.drop(sock));
        resolve(sock);
      });
    });
  }

  private drop(sock: Sock | null): void {
    if (!sock) return;
    if (this.socket === sock) this.socket = null;
    if (!sock.destroyed) sock.destroy();
  }
}
