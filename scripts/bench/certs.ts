/**
 * Benchmark certificates: generated once, cached under .certops/bench-cache/ (git-ignored), reused
 * by every later run. Generating 10,000 leaves with @peculiar/x509 costs ~18 s, so all leaves share
 * ONE EC P-256 key (key generation is not what the benchmark measures) and the cache is rebuilt
 * only when its layout changes or its dates have drifted (the expiry mix is relative to "now").
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createCertificate, generateKeyPair, type HashName, type KeyPair, type KeySpec } from '../../shared/adapters/local/certificate-factory';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const CACHE_DIR = path.join(REPO_ROOT, '.certops', 'bench-cache');
/** The real badssl.com certificates (tests/fixtures/SOURCES.md §6b). */
export const BADSSL_DIR = path.join(REPO_ROOT, 'tests', 'fixtures', 'x509', 'badssl');

const MS_PER_DAY = 86_400_000;
/** Cached certificates are regenerated after this long: "60 days left" must stay healthy. */
const MAX_CACHE_AGE_MS = 7 * MS_PER_DAY;
/** How many generations run at once: signing is async in WebCrypto, so both cores help. */
const GENERATION_BATCH = 32;

export interface LeafSet {
  generatedAt: string;
  caPem: string;
  /** Shared by every leaf (PKCS#8 PEM); bench material only, never logged. */
  keyPem: string;
  leaves: Array<{ host: string; pem: string; daysLeft: number }>;
}

/** The SNI host name of endpoint `n` of tenant `t` in the sweep (one distinct certificate each). */
export function sweepHost(tenant: number, n: number): string {
  return `h${n}.tenant${tenant}.bench.test`;
}

/**
 * Days left for leaf `i`: 2 % expired, 2 % critical, 2 % expiring, the rest healthy, so the sweep
 * has findings and notifications to process without being dominated by them.
 */
export function daysLeftOf(i: number): number {
  switch (i % 50) {
    case 7:
      return -5;
    case 13:
      return 1;
    case 21:
      return 6;
    default:
      return 60;
  }
}

export function sweepLeafFile(tenants: number, perTenant: number): string {
  return path.join(CACHE_DIR, `sweep-leaves-v1-${tenants}x${perTenant}.json`);
}

/** `tenants × perTenant` leaves, leaf `t * perTenant + n` for sweepHost(t, n), signed by one bench CA; cached in sweepLeafFile(). */
export async function sweepLeaves(tenants: number, perTenant: number, log: (s: string) => void): Promise<LeafSet> {
  const file = sweepLeafFile(tenants, perTenant);
  const cached = readFresh<LeafSet>(file);
  if (cached) return cached;
  log(`generating ${tenants * perTenant} leaf certificates (one-time; cached in ${path.relative(REPO_ROOT, file)})…`);
  const started = Date.now();
  const now = Date.now();
  const ca = await makeCa('ec-p256', 'CN=certops bench CA, O=certops bench', now);
  const key = await generateKeyPair('ec-p256');
  const hosts: string[] = [];
  for (let t = 0; t < tenants; t++) for (let n = 0; n < perTenant; n++) hosts.push(sweepHost(t, n));
  const leaves = await inBatches(hosts, async (host, i) => {
    const daysLeft = daysLeftOf(i);
    const notAfter = new Date(now + daysLeft * MS_PER_DAY);
    const cert = await createCertificate({
      subject: `CN=${host}`,
      dnsNames: [host],
      notBefore: new Date(notAfter.getTime() - 90 * MS_PER_DAY),
      notAfter,
      key,
      issuer: ca,
    });
    return { host, pem: cert.certificatePem, daysLeft };
  });
  const set: LeafSet = { generatedAt: new Date(now).toISOString(), caPem: ca.certificatePem, keyPem: key.privateKeyPem, leaves };
  writeAtomically(file, JSON.stringify(set));
  log(`  generated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return set;
}

export interface CorpusItem {
  kind: string;
  /** Leaf first, as a server would present it. */
  chainPem: string[];
  /** The name a client asked for (hostname findings are judged against it). */
  host: string;
}

export interface AnalysisCorpus {
  generatedAt: string;
  /** CAs the analysis treats as trust anchors (as a tenant's trustedCaFiles would). */
  anchorPems: string[];
  items: CorpusItem[];
}

interface KindPlan {
  kind: string;
  count: number;
  key: KeySpec;
  /** Issuer key spec and hash; absent: self-signed. */
  issuer?: { key: KeySpec; hash: HashName };
  sans?: number;
  daysLeft?: number;
  /** Ask for a name the certificate does not cover. */
  mismatch?: boolean;
}

/** Kinds an MSP estate mixes; the EC P-256 leaves under a CA come from the sweep set. */
const KIND_PLANS: KindPlan[] = [
  { kind: 'rsa-2048 leaf, RSA CA', count: 400, key: 'rsa-2048', issuer: { key: 'rsa-2048', hash: 'SHA-256' } },
  { kind: 'ec-p384 leaf, EC CA', count: 200, key: 'ec-p384', issuer: { key: 'ec-p256', hash: 'SHA-256' } },
  { kind: 'self-signed ec-p256', count: 300, key: 'ec-p256' },
  { kind: 'sha1-signed rsa leaf', count: 200, key: 'rsa-2048', issuer: { key: 'rsa-2048', hash: 'SHA-1' } },
  { kind: 'rsa-1024 (weak) leaf', count: 100, key: 'rsa-1024', issuer: { key: 'ec-p256', hash: 'SHA-256' } },
  { kind: '100-SAN leaf', count: 200, key: 'ec-p256', issuer: { key: 'ec-p256', hash: 'SHA-256' }, sans: 100 },
  { kind: 'expired leaf', count: 200, key: 'ec-p256', issuer: { key: 'ec-p256', hash: 'SHA-256' }, daysLeft: -30 },
  { kind: 'hostname mismatch', count: 200, key: 'ec-p256', issuer: { key: 'ec-p256', hash: 'SHA-256' }, mismatch: true },
];

/** A few thousand chains of mixed kinds: `ecLeaves` from the sweep set plus KIND_PLANS. */
export async function analysisCorpus(sweep: LeafSet, ecLeaves: number, log: (s: string) => void): Promise<AnalysisCorpus> {
  const file = path.join(CACHE_DIR, 'analysis-corpus-v1.json');
  let mixed = readFresh<AnalysisCorpus>(file);
  if (!mixed) {
    log(`generating the mixed analysis corpus (one-time; cached in ${path.relative(REPO_ROOT, file)})…`);
    const now = Date.now();
    const items: CorpusItem[] = [];
    const anchorPems: string[] = [];
    const cas = new Map<string, { certificatePem: string; key: KeyPair }>();
    const leafKeys = new Map<KeySpec, KeyPair>();
    for (const plan of KIND_PLANS) {
      let issuer: { certificatePem: string; key: KeyPair } | undefined;
      if (plan.issuer) {
        const id = `${plan.issuer.key}/${plan.issuer.hash}`;
        issuer = cas.get(id);
        if (!issuer) {
          issuer = await makeCa(plan.issuer.key, `CN=certops bench ${id} CA, O=certops bench`, now, plan.issuer.hash);
          cas.set(id, issuer);
          anchorPems.push(issuer.certificatePem);
        }
      }
      let key = leafKeys.get(plan.key);
      if (!key) leafKeys.set(plan.key, (key = await generateKeyPair(plan.key)));
      const indices = Array.from({ length: plan.count }, (_, i) => i);
      const made = await inBatches(indices, async (i) => {
        const host = `${plan.kind.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${i}.corpus.test`;
        const notAfter = new Date(now + (plan.daysLeft ?? 200) * MS_PER_DAY);
        const cert = await createCertificate({
          subject: `CN=${host}, O=certops bench`,
          dnsNames: [host, ...Array.from({ length: (plan.sans ?? 1) - 1 }, (_, j) => `alt${j}.${host}`)],
          notBefore: new Date(notAfter.getTime() - 365 * MS_PER_DAY),
          notAfter,
          key: key!,
          issuer,
          hash: plan.issuer?.hash ?? 'SHA-256',
        });
        const chainPem = issuer ? [cert.certificatePem, issuer.certificatePem] : [cert.certificatePem];
        return { kind: plan.kind, chainPem, host: plan.mismatch ? `other-${host}` : host };
      });
      items.push(...made);
    }
    mixed = { generatedAt: new Date(now).toISOString(), anchorPems, items };
    writeAtomically(file, JSON.stringify(mixed));
  }
  const ec: CorpusItem[] = sweep.leaves.slice(0, ecLeaves).map((l) => ({ kind: 'ec-p256 leaf, EC CA', chainPem: [l.pem, sweep.caPem], host: l.host }));
  return { generatedAt: mixed.generatedAt, anchorPems: [sweep.caPem, ...mixed.anchorPems], items: [...ec, ...mixed.items, ...badsslItems(log)] };
}

/** The real badssl.com certificates in the reference folder, each as a one-certificate chain. */
function badsslItems(log: (s: string) => void): CorpusItem[] {
  if (!existsSync(BADSSL_DIR)) {
    log(`note: ${BADSSL_DIR} is absent; the analysis corpus has no real badssl certificates`);
    return [];
  }
  const items: CorpusItem[] = [];
  for (const name of readdirSync(BADSSL_DIR).sort()) {
    const text = readFileSync(path.join(BADSSL_DIR, name), 'utf8');
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length > 0) items.push({ kind: 'badssl.com (real)', chainPem: blocks.map((b) => `${b}\n`), host: `${name.replace(/\.(pem|crt)$/, '')}.badssl.com` });
  }
  return items;
}

async function makeCa(spec: KeySpec, subject: string, now: number, hash: HashName = 'SHA-256'): Promise<{ certificatePem: string; key: KeyPair }> {
  const key = await generateKeyPair(spec, hash);
  const cert = await createCertificate({
    subject,
    notBefore: new Date(now - 30 * MS_PER_DAY),
    notAfter: new Date(now + 3650 * MS_PER_DAY),
    isCA: true,
    key,
    hash,
  });
  return { certificatePem: cert.certificatePem, key };
}

async function inBatches<T, R>(inputs: T[], make: (input: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(inputs.length);
  for (let start = 0; start < inputs.length; start += GENERATION_BATCH) {
    const batch = inputs.slice(start, start + GENERATION_BATCH);
    const made = await Promise.all(batch.map((input, j) => make(input, start + j)));
    made.forEach((r, j) => (out[start + j] = r));
  }
  return out;
}

function readFresh<T extends { generatedAt: string }>(file: string): T | null {
  if (!existsSync(file) || Date.now() - statSync(file).mtimeMs > MAX_CACHE_AGE_MS) return null;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as T;
    return Date.now() - Date.parse(value.generatedAt) <= MAX_CACHE_AGE_MS ? value : null;
  } catch {
    return null; // a torn or stale-format cache is simply regenerated
  }
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
