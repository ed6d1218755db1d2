// The Security panel. Today Berth neither scans images nor verifies signatures; the panel says so plainly,
// and is laid out with one row per check so that scan results (severity counts, scanned at, scanner) and
// signature status (verified by which key or identity) slot in when those features land.
import type { ManifestDetail } from '../api-types';
import { Icon } from '../components/icon';
import { plural, referrerKind } from '../format';

/** What a future scan will report; absent today. */
export interface ScanSummary { scannedAt: number; scanner: string; counts: { critical: number; high: number; medium: number; low: number } }
/** What future signature verification will report; absent today. */
export interface SignatureStatus { state: 'verified' | 'unverified' | 'invalid'; by?: string }

export function SecurityPanel({ referrers, scan, signatures }: { referrers: ManifestDetail['referrers']; scan?: ScanSummary; signatures?: SignatureStatus }) {
  const sigs = referrers.filter((r) => referrerKind(r.artifactType) === 'signature').length;
  const sboms = referrers.filter((r) => referrerKind(r.artifactType) === 'sbom').length;
  return (
    <section className="card security" aria-labelledby="security-title">
      <div className="card-head"><h2 id="security-title">Security</h2></div>
      <p className="security-notice" role="note">
        <span className="security-icon"><Icon name="shield" size={18} /></span>
        Vulnerability scanning and signature verification: not available yet
      </p>
      <ul className="security-checks">
        <li className="security-check" data-check="vulnerabilities">
          <div className="security-check-head">
            <span className="security-check-title">Vulnerabilities</span>
            <span className="badge badge-neutral">{scan ? 'scanned' : 'not scanned'}</span>
          </div>
          {scan ? (
            <ul className="severity-counts">
              {(['critical', 'high', 'medium', 'low'] as const).map((s) => <li key={s} className={`sev sev-${s}`}><strong>{scan.counts[s]}</strong> {s}</li>)}
            </ul>
          ) : (
            <div className="severity-counts placeholder" aria-hidden="true">
              {['Critical', 'High', 'Medium', 'Low'].map((s) => <span key={s} className="sev sev-empty"><strong>–</strong> {s}</span>)}
            </div>
          )}
          <p className="muted small">Scan results will appear here once Berth can scan images.</p>
        </li>
        <li className="security-check" data-check="signatures">
          <div className="security-check-head">
            <span className="security-check-title">Signatures</span>
            <span className="badge badge-neutral">{signatures ? signatures.state : 'not verified'}</span>
          </div>
          <p className="small">{sigs ? `${plural(sigs, 'signature')} attached as referrers (not verified by Berth).` : 'No signatures attached.'}</p>
          <p className="muted small">Signature verification status will appear here.</p>
        </li>
        <li className="security-check" data-check="sbom">
          <div className="security-check-head">
            <span className="security-check-title">Software bill of materials</span>
            <span className={`badge ${sboms ? 'badge-info' : 'badge-neutral'}`}>{sboms ? 'attached' : 'none'}</span>
          </div>
          <p className="small">{sboms ? `${plural(sboms, 'SBOM')} attached as referrers.` : 'No SBOM attached.'}</p>
        </li>
      </ul>
    </section>
  );
}
