// HTTPS options from the configured PEM files. Read at start and again on SIGHUP, so certificates
// rotate without dropping the connections already open.
import { readFileSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Config } from '../config/schema.js';

export function tlsEnabled(cfg: Config['tls']): boolean {
  return Boolean(cfg.cert && cfg.key);
}

export function secureContextOptions(cfg: Config['tls']): SecureContextOptions {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(e as Error).message}`);
    }
  };
  return {
    cert: read(cfg.cert!, 'certificate'),
    key: read(cfg.key!, 'key'),
    ...(cfg.clientCa ? { ca: read(cfg.clientCa, 'client CA') } : {}),
    minVersion: cfg.minVersion,
  };
}

export function httpsOptions(cfg: Config['tls']): TlsOptions {
  return {
    ...secureContextOptions(cfg),
    // Mutual TLS: the handshake itself refuses clients without a certificate from the client CA.
    requestCert: Boolean(cfg.clientCa),
    rejectUnauthorized: Boolean(cfg.clientCa),
  };
}
