// Forwards the audit log to a SIEM: reads records after a cursor kept in the database, sends them as
// RFC 5424 syslog, and moves the cursor only after they were written to the socket. A restart resumes
// where it stopped (at least once; the record's sequence number and hash let the SIEM drop repeats).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MetadataStore } from '../db/database.js';
import { auditRecordsAfter } from '../db/audit-log.js';
import { readCursor, setCursor } from '../db/cursors.js';
import { formatSyslog, SyslogSender } from '../audit/syslog.js';
import { toAuditRecord } from '../audit/journal.js';

const CURSOR = 'syslog-forward';

export interface SyslogForwarderOptions {
  host: string; port: number; appName: string;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}

export class SyslogForwarder {
  private readonly sender: SyslogSender;
  private readonly hostname = hostname();

  constructor(private readonly meta: MetadataStore, private readonly opts: SyslogForwarderOptions, private readonly log: Logger) {
    const read = (f?: string) => (f ? readFileSync(f, 'utf8') : undefined);
    this.sender = new SyslogSender({
      host: opts.host, port: opts.port,
      tls: opts.tls ? { ca: read(opts.tls.ca), cert: read(opts.tls.cert), key: read(opts.tls.key), servername: opts.tls.servername } : undefined,
    });
  }

  /** Sends everything recorded since the cursor, in batches; returns how many records went out. */
  async forward(batch = 500): Promise<number> {
    let sent = 0;
    for (;;) {
      const cursor = (await readCursor(this.meta.db, CURSOR)) ?? 0;
      const rows = await auditRecordsAfter(this.meta.db, cursor, batch);
      if (rows.length === 0) return sent;
      const messages = rows.map((row) => formatSyslog(toAuditRecord(row), { hostname: this.hostname, appName: this.opts.appName }));
      // Throws when the collector cannot be reached: the cursor stays, the job retries on its next run.
      await this.sender.send(messages);
      const last = Number(rows[rows.length - 1].seq);
      await this.meta.relaxed((db) => setCursor(db, CURSOR, last));
      sent += rows.length;
      if (rows.length < batch) return sent;
    }
  }

  async close(): Promise<void> {
    await this.sender.close();
  }
}
