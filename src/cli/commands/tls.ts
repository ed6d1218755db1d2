// `berth tls self-signed`: needs neither the configuration nor the data.
import type { Command } from 'commander';

export function register(program: Command): void {
  const tls = program.command('tls').description('TLS helpers');
  tls.command('self-signed')
    .description('write a private CA and a server certificate it signs (for evaluation; bring your own in production); with --ca-cert/--ca-key, renew the server certificate under an existing CA')
    .requiredOption('--out <dir>', 'folder for ca.crt, ca.key, server.crt, server.key (only the server files with --ca-cert)')
    .option('--hosts <list>', 'comma-separated DNS names and IP addresses the certificate is for', 'localhost,127.0.0.1,::1')
    .option('--days <n>', 'server certificate validity in days', '397')
    .option('--ca-cert <file>', 'sign with this existing CA certificate (PEM) instead of a new CA, so clients that trust it keep working')
    .option('--ca-key <file>', "the existing CA's private key (PEM, unencrypted); with --ca-cert")
    .action(async (opts: { out: string; hosts: string; days: string; caCert?: string; caKey?: string }) => {
      const { createCa, issueCertificate, loadCa } = await import('../../tls/certificates.js');
      const { chmod, mkdir, readFile, writeFile } = await import('node:fs/promises');
      const path = await import('node:path');
      const hosts = opts.hosts.split(',').map((h) => h.trim()).filter(Boolean);
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1) throw new Error('--days must be a positive integer');
      if (Boolean(opts.caCert) !== Boolean(opts.caKey)) throw new Error('--ca-cert and --ca-key go together');
      const read = async (file: string) => readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => { throw new Error(`cannot read ${file}: ${e.code ?? e.message}`); });
      // Read and checked before anything is written: a bad CA leaves the folder as it was.
      const ca = opts.caCert && opts.caKey ? await loadCa(await read(opts.caCert), await read(opts.caKey)) : await createCa();
      const server = await issueCertificate(ca, hosts, { days });
      await mkdir(opts.out, { recursive: true, mode: 0o700 });
      const file = (name: string) => path.join(opts.out, name);
      // mode applies only to new files: a renewal that overwrites a key tightens it too.
      const writeKey = async (name: string, pem: string) => { await writeFile(file(name), pem, { mode: 0o600 }); await chmod(file(name), 0o600); };
      if (!opts.caCert) {
        const fresh = ca as Awaited<ReturnType<typeof createCa>>;
        await writeFile(file('ca.crt'), fresh.cert);
        await writeKey('ca.key', fresh.key);
      }
      await writeFile(file('server.crt'), server.cert);
      await writeKey('server.key', server.key);
      const caFile = opts.caCert ?? file('ca.crt');
      process.stdout.write(
        (opts.caCert
          ? `wrote ${file('server.crt')} and its key for ${hosts.join(', ')}, signed by ${opts.caCert}\n`
          : `wrote ${file('ca.crt')}, ${file('server.crt')} and their keys for ${hosts.join(', ')}\n`) +
        `serve with:  tls: { cert: ${file('server.crt')}, key: ${file('server.key')} }  (a running server picks it up on kill -HUP)\n` +
        `clients trust ${caFile} (e.g. copy it to /etc/containers/certs.d/HOST:PORT/ca.crt)\n`,
      );
    });
}
