/**
 * Certificate: the facts certops reads from one X.509 certificate (RFC 5280), as a plain value.
 *
 * Two parsers: node's X509Certificate (OpenSSL) validates the whole structure and gives the key
 * details and signature checks, but not the signature algorithm OID, typed SANs or the raw names;
 * those come from @peculiar/asn1-x509 (the RFC 5280 ASN.1 modules, maintained) on asn1js. That
 * parse costs more than node's (about 2,500 certificates/s here against 9,000), so the analyze
 * stage parses each issuing certificate once (pipeline/issuer-certificate-cache.ts).
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { CertificateSummary } from '../ports/certificate-store';
import { MalformedCertificateError, errorMessage } from './errors';
import * as asn1js from 'asn1js';
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeValue,
  BasicConstraints,
  Certificate as AsnCertificate,
  Extension,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
  Name,
  SubjectAlternativeName,
} from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { canonicalIp } from './hostname';

export type KeyType = 'rsa' | 'ec' | 'ed25519' | 'ed448' | 'dsa' | 'unknown';

export interface Certificate {
  der: Buffer;
  /** SHA-256 of the DER, lowercase hex, no colons. */
  fingerprintSha256: string;
  /** RFC 4514 order (most specific RDN first), `, ` between RDNs; '' for an empty subject. */
  subject: string;
  /** The most specific CN attribute, or null. */
  commonName: string | null;
  /** SAN dNSName entries as encoded (punycode stays punycode). */
  dnsNames: string[];
  /** SAN iPAddress entries, textual (IPv4 dotted, IPv6 RFC 5952 compressed). */
  ipAddresses: string[];
  issuer: string;
  /** Lowercase hex, without DER sign padding. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  keyType: KeyType;
  /** Bits: RSA/DSA modulus, EC curve size (256, 384, 521), 256/448 for EdDSA; 0 when unknown. */
  keySize: number;
  /** Curve name as OpenSSL reports it (e.g. 'prime256v1'), null for non-EC keys. */
  curve: string | null;
  /** e.g. 'sha256WithRSAEncryption', 'ecdsa-with-SHA256'; the dotted OID when unknown. */
  signatureAlgorithm: string;
  /** 'SHA-1' | 'SHA-224' | 'SHA-256' | 'SHA-384' | 'SHA-512' | 'MD5' | 'MD2', null when intrinsic (EdDSA) or unknown. */
  signatureHash: string | null;
  /** basicConstraints cA (RFC 5280 §4.2.1.9); false when the extension is absent. */
  isCA: boolean;
  /** Subject equals issuer (compared case- and whitespace-insensitively). */
  selfIssued: boolean;
  /** Self-issued AND its signature verifies with its own public key. */
  selfSigned: boolean;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Parses DER bytes or one PEM CERTIFICATE block (text around the block is ignored).
 * @throws MalformedCertificateError when the input is not exactly one well-formed certificate.
 */
export function parseCertificate(input: Buffer | string): Certificate {
  if (typeof input === 'string' || (input.length > 0 && input[0] !== 0x30 && input.includes('-----BEGIN'))) {
    const blocks = pemBlocks(input.toString());
    if (blocks.length !== 1) {
      throw new MalformedCertificateError(
        blocks.length === 0
          ? 'no PEM CERTIFICATE block found; supply DER bytes or text containing one "-----BEGIN CERTIFICATE-----" block'
          : `expected one PEM CERTIFICATE block, found ${blocks.length}; use parsePemBundle for a chain`,
      );
    }
    return parseDer(blocks[0], 'the PEM block');
  }
  return parseDer(input, 'the DER input');
}

/** Every CERTIFICATE block of a PEM text, in order; anything between blocks is ignored. */
export function parsePemBundle(pem: string): Certificate[] {
  return pemBlocks(pem).map((der, i) => parseDer(der, `PEM block #${i + 1}`));
}

/** The storable summary of a certificate (dates as ISO strings). */
export function summarize(cert: Certificate, chainLength: number): CertificateSummary {
  return {
    fingerprintSha256: cert.fingerprintSha256,
    subject: cert.subject,
    commonName: cert.commonName,
    dnsNames: [...cert.dnsNames],
    ipAddresses: [...cert.ipAddresses],
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    keyType: cert.keyType,
    keySize: cert.keySize,
    signatureAlgorithm: cert.signatureAlgorithm,
    selfSigned: cert.selfSigned,
    chainLength,
  };
}

/** Distinguished names compared the way RFC 5280 §7.1 intends in practice: case and spacing folded. */
export function nameKey(name: string): string {
  return name.toLowerCase().replace(/\s+/g, ' ');
}

const nodeCertificates = new WeakMap<Certificate, X509Certificate>();

/** node's X509Certificate for signature and issuer checks (cached per Certificate object). */
export function nodeCertificate(cert: Certificate): X509Certificate {
  let x = nodeCertificates.get(cert);
  if (!x) {
    x = new X509Certificate(cert.der);
    nodeCertificates.set(cert, x);
  }
  return x;
}

function pemBlocks(text: string): Buffer[] {
  return [...text.matchAll(PEM_BLOCK)].map((m, i) => {
    const body = m[1].replace(/\s+/g, '');
    if (!BASE64.test(body)) throw new MalformedCertificateError(`PEM block #${i + 1} is not valid base64; re-export the certificate`);
    return Buffer.from(body, 'base64');
  });
}

function parseDer(der: Buffer, what: string): Certificate {
  let x: X509Certificate;
  let fields: TbsFields;
  try {
    x = new X509Certificate(der);
    fields = readTbs(der);
  } catch (err) {
    throw new MalformedCertificateError(
      `${what} is not a well-formed X.509 certificate (${errorMessage(err)}); check that the file is a certificate and not truncated`,
      { cause: err },
    );
  }
  const key = keyFacts(x);
  const selfIssued = nameKey(fields.subject) === nameKey(fields.issuer);
  const cert: Certificate = {
    der,
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    ...fields,
    ...key,
    selfIssued,
    selfSigned: selfIssued && verifiesWith(x, x),
  };
  nodeCertificates.set(cert, x);
  return cert;
}

function verifiesWith(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.verify(issuer.publicKey);
  } catch {
    return false; // a key or algorithm OpenSSL cannot use cannot vouch for anything
  }
}

const CURVE_BITS: Record<string, number> = {
  prime192v1: 192, secp224r1: 224, prime256v1: 256, secp256k1: 256, secp384r1: 384, secp521r1: 521,
  brainpoolP256r1: 256, brainpoolP384r1: 384, brainpoolP512r1: 512,
};

function keyFacts(x: X509Certificate): Pick<Certificate, 'keyType' | 'keySize' | 'curve'> {
  try {
    const key = x.publicKey;
    const details = key.asymmetricKeyDetails ?? {};
    switch (key.asymmetricKeyType) {
      case 'rsa':
      case 'rsa-pss':
        return { keyType: 'rsa', keySize: details.modulusLength ?? 0, curve: null };
      case 'dsa':
        return { keyType: 'dsa', keySize: details.modulusLength ?? 0, curve: null };
      case 'ec': {
        const curve = details.namedCurve ?? null;
        const bits = curve ? CURVE_BITS[curve] ?? Number(/\d{3}/.exec(curve)?.[0] ?? 0) : 0;
        return { keyType: 'ec', keySize: bits, curve };
      }
      case 'ed25519':
        return { keyType: 'ed25519', keySize: 256, curve: null };
      case 'ed448':
        return { keyType: 'ed448', keySize: 448, curve: null };
      default:
        return { keyType: 'unknown', keySize: 0, curve: null };
    }
  } catch {
    return { keyType: 'unknown', keySize: 0, curve: null }; // e.g. a GOST key OpenSSL was built without
  }
}

// ---------------------------------------------------------------------------------------------
// What node lacks, decoded by @peculiar/asn1-x509 (RFC 5280 ASN.1 modules) on asn1js.

type TbsFields = Pick<
  Certificate,
  | 'subject' | 'commonName' | 'issuer' | 'serialNumber' | 'notBefore' | 'notAfter'
  | 'dnsNames' | 'ipAddresses' | 'signatureAlgorithm' | 'signatureHash' | 'isCA'
>;

/** RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }. */
function readTbs(der: Buffer): TbsFields {
  const ber = asn1js.fromBER(der);
  if (ber.offset === -1) throw new Error(ber.result.error || 'not DER');
  if (ber.offset !== der.length) throw new Error('trailing bytes after the certificate');
  const cert = AsnParser.fromASN(ber.result, AsnCertificate);
  const tbs = cert.tbsCertificate;
  const subject = readName(tbs.subject);
  const issuer = readName(tbs.issuer);
  return {
    subject: subject.text,
    commonName: subject.commonName,
    issuer: issuer.text,
    serialNumber: readSerial(Buffer.from(tbs.serialNumber)),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    ...readExtensions(tbs.extensions ?? []),
    // The outer AlgorithmIdentifier is authoritative for what was signed.
    ...readAlgorithm(cert.signatureAlgorithm),
  };
}

function readSerial(bytes: Buffer): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++; // DER sign padding
  return bytes.toString('hex', start);
}

// ---------------------------------------------------------------------------------------------
// Names (RFC 5280 §4.1.2.4), rendered per RFC 4514.

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.9': 'STREET', '2.5.4.10': 'O',
  '2.5.4.11': 'OU', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
  '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.12': 'title', '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode', '2.5.4.42': 'GN', '2.5.4.46': 'dnQualifier', '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress', '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST', '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

function readName(name: Name): { text: string; commonName: string | null } {
  let commonName: string | null = null;
  const rdns = name.map((set) =>
    set
      .map((atv) => {
        const text = directoryString(atv.value);
        if (atv.type === '2.5.4.3' && text !== null) commonName = text; // the last CN is the most specific
        // RFC 4514 §2.4: a value that is not a string is rendered as '#' and its BER encoding in hex
        const rendered = text === null ? `#${Buffer.from(atv.value.anyValue ?? new ArrayBuffer(0)).toString('hex')}` : escapeValue(text);
        return `${ATTRIBUTE_NAMES[atv.type] ?? atv.type}=${rendered}`;
      })
      .join('+'),
  );
  return { text: rdns.reverse().join(', '), commonName };
}

/** RFC 4514 §2.4 escaping. */
function escapeValue(v: string): string {
  return v
    .replace(/[\\"+,;<>]/g, (c) => `\\${c}`)
    .replace(/\0/g, '\\00')
    .replace(/^([ #])/, '\\$1')
    .replace(/ $/, '\\ ');
}

/** The X.520 string types; null for anything else (rendered as hex). */
function directoryString(v: AttributeValue): string | null {
  return v.utf8String ?? v.printableString ?? v.teletexString ?? v.ia5String ?? v.bmpString ?? v.universalString ?? null;
}

// ---------------------------------------------------------------------------------------------
// Extensions (RFC 5280 §4.2): subjectAltName and basicConstraints are all this module needs.

function readExtensions(extensions: Extension[]): Pick<Certificate, 'dnsNames' | 'ipAddresses' | 'isCA'> {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let isCA = false;
  for (const ext of extensions) {
    if (ext.extnID === id_ce_subjectAltName) {
      for (const gn of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
        if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
        if (gn.iPAddress !== undefined) {
          const ip = canonicalIp(gn.iPAddress);
          if (ip) ipAddresses.push(ip);
        }
      }
    } else if (ext.extnID === id_ce_basicConstraints) {
      isCA = AsnConvert.parse(ext.extnValue, BasicConstraints).cA;
    }
  }
  return { dnsNames, ipAddresses, isCA };
}

// ---------------------------------------------------------------------------------------------
// Signature algorithms (RFC 3279, RFC 4055, RFC 5758, RFC 8410), named as OpenSSL names them.

const SIGNATURE_ALGORITHMS: Record<string, [string, string | null]> = {
  '1.2.840.113549.1.1.2': ['md2WithRSAEncryption', 'MD2'],
  '1.2.840.113549.1.1.4': ['md5WithRSAEncryption', 'MD5'],
  '1.2.840.113549.1.1.5': ['sha1WithRSAEncryption', 'SHA-1'],
  '1.2.840.113549.1.1.14': ['sha224WithRSAEncryption', 'SHA-224'],
  '1.2.840.113549.1.1.11': ['sha256WithRSAEncryption', 'SHA-256'],
  '1.2.840.113549.1.1.12': ['sha384WithRSAEncryption', 'SHA-384'],
  '1.2.840.113549.1.1.13': ['sha512WithRSAEncryption', 'SHA-512'],
  '1.2.840.10045.4.1': ['ecdsa-with-SHA1', 'SHA-1'],
  '1.2.840.10045.4.3.1': ['ecdsa-with-SHA224', 'SHA-224'],
  '1.2.840.10045.4.3.2': ['ecdsa-with-SHA256', 'SHA-256'],
  '1.2.840.10045.4.3.3': ['ecdsa-with-SHA384', 'SHA-384'],
  '1.2.840.10045.4.3.4': ['ecdsa-with-SHA512', 'SHA-512'],
  '1.2.840.10040.4.3': ['dsa-with-SHA1', 'SHA-1'],
  '2.16.840.1.101.3.4.3.1': ['dsa_with_SHA224', 'SHA-224'],
  '2.16.840.1.101.3.4.3.2': ['dsa_with_SHA256', 'SHA-256'],
  '1.3.101.112': ['ED25519', null],
  '1.3.101.113': ['ED448', null],
};

const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'SHA-1', '2.16.840.1.101.3.4.2.4': 'SHA-224', '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384', '2.16.840.1.101.3.4.2.3': 'SHA-512',
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';

function readAlgorithm(alg: AlgorithmIdentifier): Pick<Certificate, 'signatureAlgorithm' | 'signatureHash'> {
  if (alg.algorithm === OID_RSASSA_PSS) {
    // RFC 4055 §3.1: hashAlgorithm [0] defaults to SHA-1.
    const hashOid = alg.parameters ? AsnConvert.parse(alg.parameters, RsaSaPssParams).hashAlgorithm.algorithm : '1.3.14.3.2.26';
    return { signatureAlgorithm: 'rsassaPss', signatureHash: HASH_OIDS[hashOid] ?? null };
  }
  const known = SIGNATURE_ALGORITHMS[alg.algorithm];
  return known ? { signatureAlgorithm: known[0], signatureHash: known[1] } : { signatureAlgorithm: alg.algorithm, signatureHash: null };
}
