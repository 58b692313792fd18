/**
 * Analysis throughput: certificates per second through what the analyze stage does with each
 * presented chain (parseCertificate on every certificate, certificateFindings with the tenant's
 * trust anchors, assessExpiry of the leaf), beside the named peer measured in the same run:
 * node:crypto `new X509Certificate(der)` plus reading subject, subjectAltName, validTo,
 * fingerprint256 and publicKey of every certificate. The ratio is what the richer analysis costs
 * relative to bare parsing of the same DER.
 */
import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseCertificate } from '../../shared/domain/certificate';
import { certificateFindings } from '../../shared/domain/certificate-findings';
import { mergeTrustAnchors, systemTrustAnchors, trustAnchorsFromPem } from '../../shared/domain/chain';
import { assessExpiry } from '../../shared/domain/renewal';
import type { AnalysisCorpus } from './certs';
import { medianOf } from './discovery';

export interface AnalysisFigures {
  chains: number;
  certificates: number;
  certopsPerSecond: number;
  nodePerSecond: number;
  /** Findings per code over one pass: proof the analysis judged the mix, not just parsed it. */
  findingCodes: Record<string, number>;
  statuses: Record<string, number>;
}

/** Each pass runs for at least this long, so timer resolution and GC pauses even out. */
const MIN_PASS_MS = 1_500;

export function measureAnalysis(corpus: AnalysisCorpus, rounds: number, log: (s: string) => void): AnalysisFigures {
  const chains = corpus.items.map((item) => ({ host: item.host, ders: item.chainPem.map(pemToDer) }));
  const certificates = chains.reduce((n, c) => n + c.ders.length, 0);
  // As the runtime builds them for a tenant: the system roots plus the tenant's own CAs.
  const anchors = mergeTrustAnchors(systemTrustAnchors(), trustAnchorsFromPem(corpus.anchorPems));
  const now = new Date();
  const findingCodes: Record<string, number> = {};
  const statuses: Record<string, number> = {};

  const certopsPass = (tally: boolean): void => {
    for (const { host, ders } of chains) {
      const chain = ders.map((der) => parseCertificate(der));
      const findings = certificateFindings({ chain, host, anchors, now });
      const expiry = assessExpiry({ notBefore: chain[0].notBefore, notAfter: chain[0].notAfter }, now);
      if (tally) {
        for (const f of findings) findingCodes[f.code] = (findingCodes[f.code] ?? 0) + 1;
        statuses[expiry.status] = (statuses[expiry.status] ?? 0) + 1;
      }
    }
  };
  let sink = 0;
  const nodePass = (): void => {
    for (const { ders } of chains) {
      for (const der of ders) {
        const cert = new X509Certificate(der);
        // A certificate may lack a subject (badssl's no-subject): node returns undefined then.
        sink += (cert.subject?.length ?? 0) + (cert.subjectAltName?.length ?? 0) + cert.validTo.length + cert.fingerprint256.length;
        sink += cert.publicKey.asymmetricKeyType?.length ?? 0;
      }
    }
  };

  log(`analysis: ${chains.length} chains, ${certificates} certificates; warm-up…`);
  certopsPass(true);
  nodePass();
  const certops: number[] = [];
  const node: number[] = [];
  for (let r = 0; r < rounds; r++) {
    certops.push(rate(() => certopsPass(false), certificates));
    node.push(rate(nodePass, certificates));
    log(`  round ${r + 1}: certops ${certops[r]}/s, node X509Certificate ${node[r]}/s`);
  }
  if (sink < 0) log('unreachable'); // keeps the peer's reads from being optimised away
  return { chains: chains.length, certificates, certopsPerSecond: medianOf(certops), nodePerSecond: medianOf(node), findingCodes, statuses };
}

/** Certificates per second of `pass`, repeated until MIN_PASS_MS has elapsed. */
function rate(pass: () => void, certificatesPerPass: number): number {
  let passes = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    pass();
    passes += 1;
    elapsed = performance.now() - started;
  } while (elapsed < MIN_PASS_MS);
  return Math.round((passes * certificatesPerPass) / (elapsed / 1000));
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
}
