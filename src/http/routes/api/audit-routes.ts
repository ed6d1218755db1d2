// /api/v1/audit: query with filters and a cursor, streaming export (JSON Lines, CSV), verification.
import { Readable } from 'node:stream';
import { csvLine, CSV_COLUMNS, jsonLine, type AuditFilter } from '../../../audit/audit-query.js';
import { BerthError } from '../../../errors/berth-error.js';
import * as C from '../../contracts/api.js';
import { route, type ApiRoute } from './framework.js';

const auditor = () => ({ resource: { type: 'system' as const, name: 'audit' }, action: 'read' });

function when(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new BerthError('INPUT_INVALID', { message: `${name} must be an ISO 8601 time or milliseconds since the epoch` });
  return t;
}

function filter(q: { actor?: string; action?: string; repository?: string; outcome?: string; since?: string; until?: string }): AuditFilter {
  return { actor: q.actor, action: q.action, repository: q.repository, outcome: q.outcome, since: when(q.since, 'since'), until: when(q.until, 'until') };
}

export const auditRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/audit', tag: 'audit', summary: 'Audit records, newest first, filtered; page with `before`',
    query: C.AuditQuery, response: C.Page(C.AuditRecord), needs: auditor,
    async handle(c) { return c.s.audit.query(filter(c.query), c.query.n ?? 100, c.query.before); },
  }),
  route({
    method: 'GET', path: '/audit/export', tag: 'audit', summary: 'Every matching record, oldest first, streamed as JSON Lines or CSV',
    query: C.AuditExportQuery, needs: auditor, produces: ['application/x-ndjson', 'text/csv'],
    async handle(c) {
      const f = filter(c.query);
      const csv = c.query.format === 'csv';
      const audit = c.s.audit;
      const lines = async function* () {
        if (csv) yield `${CSV_COLUMNS.join(',')}\r\n`;
        for await (const r of audit.stream(f)) yield csv ? csvLine(r) : jsonLine(r);
      };
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      c.reply.code(200).header('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('Content-Disposition', `attachment; filename="berth-audit-${stamp}.${csv ? 'csv' : 'jsonl'}"`);
      await c.s.journal.record(c.ctx, [{ action: 'audit.export', resource: 'audit', detail: { format: c.query.format, filter: f as Record<string, unknown> } }]);
      return c.reply.send(Readable.from(lines()));
    },
  }),
  route({
    method: 'GET', path: '/audit/verify', tag: 'audit', summary: 'Check the hash chain and the signed checkpoints; names the first bad record',
    response: C.AuditVerification, needs: auditor,
    async handle(c) { return c.s.audit.verify(); },
  }),
];
