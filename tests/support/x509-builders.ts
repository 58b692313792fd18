/**
 * Builders for real X.509 certificates in tests, on top of the local certificate factory.
 * Dates are relative to TEST_NOW so that every expiry judgement is reproducible.
 * Each call generates fresh keys (EC P-256 unless told): no two test certificates share a key.
 */
import * as fs from 'node:fs';
import { webcrypto } from 'node:crypto';
import { fixturePath } from './fixtures';
import {
  type HashName,
  type KeyPair,
  type KeySpec,
  createCertificate,
  generateKeyPair,
  pemToDer,
} from '../../shared/adapters/local/certificate-factory';
import { type Certificate, parseCertificate, parsePemBundle } from '../../shared/domain/certificate';
import { MS_PER_DAY } from '../../shared/domain/clock';

export const TEST_NOW = new Date('2025-06-01T00:00:00Z');

export interface TestCertificate {
  pem: string;
  key: KeyPair;
  /** The subject DN as given to the factory (DER order, as @peculiar/x509 reads it). */
  subjectDn: string;
  certificate: Certificate;
}

export interface CertificateOptions {
  /** Days from TEST_NOW to notAfter; negative means already expired. */
  daysLeft?: number;
  keySpec?: KeySpec;
  hash?: HashName;
  subject?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Signed by its own key (and issuer ignored). */
  selfSigned?: boolean;
  /** The issuing CA; a fresh one is made when absent and not self-signed. */
  issuer?: TestCertificate;
  isCA?: boolean;
}

let counter = 0;

/** A leaf (or, with isCA, a CA) certificate; by default for www.example.test, 90 days left. */
export async function aCertificate(options: CertificateOptions = {}): Promise<TestCertificate> {
  const n = ++counter;
  const subjectDn = options.subject ?? (options.isCA ? `CN=Test CA ${n}, O=certops tests` : 'CN=www.example.test');
  const key = await generateKeyPair(options.keySpec ?? 'ec-p256', options.hash ?? 'SHA-256');
  const issuer = options.selfSigned ? undefined : options.issuer ?? (await aCA());
  const daysLeft = options.daysLeft ?? (options.isCA ? 3650 : 90);
  const notAfter = new Date(TEST_NOW.getTime() + daysLeft * MS_PER_DAY);
  const notBefore = new Date(Math.min(TEST_NOW.getTime(), notAfter.getTime()) - 365 * MS_PER_DAY);
  const material = await createCertificate({
    subject: subjectDn,
    dnsNames: options.dnsNames ?? (options.isCA ? [] : ['www.example.test']),
    ipAddresses: options.ipAddresses,
    notBefore,
    notAfter,
    isCA: options.isCA,
    key,
    issuer: issuer && { certificatePem: issuer.pem, key: await boundTo(issuer.key, options.hash ?? 'SHA-256') },
    hash: options.hash,
  });
  return { pem: material.certificatePem, key, subjectDn, certificate: parseCertificate(material.der) };
}

/**
 * WebCrypto binds the hash to an RSA key when it is created or imported, and the signature follows
 * the key, not the requested algorithm; re-import the issuer's key so that `hash` really is used.
 */
async function boundTo(key: KeyPair, hash: HashName): Promise<KeyPair> {
  if (!key.spec.startsWith('rsa')) return key;
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pemToDer(key.privateKeyPem), { name: 'RSASSA-PKCS1-v1_5', hash }, true, ['sign']);
  return { ...key, keys: { ...key.keys, privateKey } };
}

/** A CA certificate: a self-signed root unless `issuer` is given (then an intermediate). */
export async function aCA(options: Omit<CertificateOptions, 'isCA' | 'selfSigned'> = {}): Promise<TestCertificate> {
  return aCertificate({ ...options, isCA: true, selfSigned: !options.issuer });
}

/** root → intermediate → leaf, for chain and trust tests. */
export async function aPrivateChain(leafOptions: CertificateOptions = {}): Promise<{
  root: TestCertificate;
  intermediate: TestCertificate;
  leaf: TestCertificate;
}> {
  const root = await aCA();
  const intermediate = await aCA({ issuer: root });
  const leaf = await aCertificate({ ...leafOptions, issuer: intermediate });
  return { root, intermediate, leaf };
}

/** A real chain from tests/fixtures/x509/<relative> (e.g. 'badssl/wildcard-rsa2048.pem'), leaf first. */
export function referenceChain(relative: string): Certificate[] {
  return parsePemBundle(fs.readFileSync(fixturePath('x509', relative), 'utf8'));
}
