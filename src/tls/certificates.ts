// X.509 material for `berth tls self-signed`: a private CA and a server certificate it signs, for
// evaluation and tests. Production deployments bring their own certificates.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Pem { cert: string; key: string }

/** A CA that signs: its keys, its certificate and the algorithm its key signs with. */
export interface SigningCa { keys: CryptoKeyPair; certificate: x509.X509Certificate; signingAlgorithm?: EcdsaParams & EcKeyImportParams | RsaHashedImportParams }

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

export async function createCa(commonName = 'Berth evaluation CA', days = 825): Promise<Pem & { keys: CryptoKeyPair; certificate: x509.X509Certificate }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=${commonName}`, notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * 86_400_000), signingAlgorithm: ALG, keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: certificate.toString('pem'), key: await exportKey(keys.privateKey), keys, certificate };
}

/** A leaf certificate for `hosts` (DNS names or IP addresses), signed by the CA. */
export async function issueCertificate(ca: SigningCa, hosts: string[], opts: { client?: boolean; days?: number } = {}): Promise<Pem> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const names = hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: `CN=${hosts[0] ?? 'berth'}`, issuer: ca.certificate.subject,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + (opts.days ?? 397) * 86_400_000),
    signingAlgorithm: ca.signingAlgorithm ?? ALG, publicKey: keys.publicKey, signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([opts.client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return { cert: certificate.toString('pem'), key: await exportKey(keys.privateKey) };
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const CURVE_HASH: Record<string, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

/**
 * An existing CA (PEM certificate and unencrypted private key, PKCS#8, SEC1 or PKCS#1), to sign a renewed
 * server certificate that clients trusting the CA accept as before. ECDSA and RSA keys.
 */
export async function loadCa(certPem: string, keyPem: string): Promise<SigningCa> {
  let cert: X509Certificate;
  try { cert = new X509Certificate(certPem); } catch { throw new Error('the CA certificate is not a PEM X.509 certificate'); }
  if (!cert.ca) throw new Error(`${cert.subject.replace(/\n/g, ', ')} is not a CA certificate (basic constraints CA:FALSE)`);
  if (Date.parse(cert.validTo) <= Date.now()) throw new Error(`the CA certificate expired on ${new Date(cert.validTo).toISOString()}`);
  let key: KeyObject;
  try { key = createPrivateKey(keyPem); } catch (e) {
    throw new Error(/passphrase|decrypt/i.test((e as Error).message) ? 'the CA key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN.key)' : 'the CA key is not a PEM private key');
  }
  if (!cert.checkPrivateKey(key)) throw new Error('the CA key does not belong to the CA certificate');
  let signingAlgorithm: NonNullable<SigningCa['signingAlgorithm']>;
  if (key.asymmetricKeyType === 'ec' && CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']) {
    const namedCurve = CURVES[key.asymmetricKeyDetails!.namedCurve!];
    signingAlgorithm = { name: 'ECDSA', namedCurve, hash: CURVE_HASH[namedCurve] };
  } else if (key.asymmetricKeyType === 'rsa') {
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new Error(`CA keys of type ${key.asymmetricKeyType} are not supported (ECDSA P-256/P-384/P-521 or RSA)`);
  }
  const privateKey = await webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), signingAlgorithm, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', createPublicKey(key).export({ type: 'spki', format: 'der' }), signingAlgorithm, true, ['verify']);
  return { keys: { privateKey, publicKey } as CryptoKeyPair, certificate: new x509.X509Certificate(certPem), signingAlgorithm };
}
