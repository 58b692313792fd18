import * as fs from 'node:fs';
import { rootCertificates } from 'node:tls';
import { toPem } from '../../shared/adapters/local/certificate-factory';
import { parseCertificate } from '../../shared/domain/certificate';
import {
  type TrustAnchors,
  evaluateChain,
  isAnchor,
  mergeTrustAnchors,
  systemTrustAnchors,
  trustAnchorsFromPem,
} from '../../shared/domain/chain';
import { aCA, aCertificate, aPrivateChain, referenceChain } from '../support/x509-builders';
import { fixturePath } from '../support/fixtures';

const NO_ANCHORS = trustAnchorsFromPem([]);
const superfishRoot = () => referenceChain('badssl/ca-superfish.crt')[0];

describe('trust anchors', () => {
  it('When the system anchors are loaded, then every node root parses and the set is built once', () => {
    const anchors = systemTrustAnchors();
    expect(anchors.size).toBe(new Set(rootCertificates).size);
    expect(systemTrustAnchors()).toBe(anchors);
  });

  it('When the system anchors are searched for Superfish, then it is not among them (but is once added)', () => {
    const root = superfishRoot();
    expect(isAnchor(root, systemTrustAnchors())).toBe(false);
    expect(isAnchor(root, mergeTrustAnchors(systemTrustAnchors(), trustAnchorsFromPem([toPem(root.der, 'CERTIFICATE')])))).toBe(true);
  });

  it('When anchors are merged, then the union is kept and duplicates count once', async () => {
    const a = await aCA();
    const b = await aCA();
    const merged = mergeTrustAnchors(trustAnchorsFromPem([a.pem]), trustAnchorsFromPem([a.pem + b.pem]));
    expect(merged.size).toBe(2);
  });
});

describe('evaluateChain on real chains with the system anchors', () => {
  const cases = [
    { name: 'a public RSA-2048 chain', chain: () => referenceChain('badssl/wildcard-rsa2048.pem'), trusted: true, complete: true, pathLength: 3 },
    { name: 'a chain whose leaf expired in 2015 (dates are not judged here)', chain: () => referenceChain('badssl/wildcard-expired.pem'), trusted: true, complete: true, pathLength: 3 },
    { name: 'a leaf without its intermediate', chain: () => referenceChain('badssl/wildcard-incomplete-chain.pem'), trusted: false, complete: false, pathLength: 1 },
    { name: 'a self-signed leaf', chain: () => referenceChain('badssl/wildcard-self-signed.pem'), trusted: false, complete: true, pathLength: 1 },
    { name: 'a Superfish leaf alone', chain: () => referenceChain('badssl/subdomain-superfish.pem'), trusted: false, complete: false, pathLength: 1 },
    { name: 'a Superfish leaf with its root', chain: () => [...referenceChain('badssl/subdomain-superfish.pem'), superfishRoot()], trusted: false, complete: true, pathLength: 2 },
    {
      name: 'a 3-certificate chain presented in reverse order after the leaf',
      chain: () => {
        const [leaf, ...rest] = referenceChain('badssl/subdomain-no-common-name.pem');
        return [leaf, ...rest.reverse()];
      },
      trusted: true,
      complete: true,
      pathLength: 3,
    },
  ];

  it.each(cases)('When evaluating $name, then trusted=$trusted, complete=$complete, path length $pathLength', ({ chain, trusted, complete, pathLength }) => {
    const evaluation = evaluateChain(chain(), systemTrustAnchors());
    expect(evaluation).toMatchObject({ trusted, complete });
    expect(evaluation.path).toHaveLength(pathLength);
    expect(evaluation.reason.length).toBeGreaterThan(10);
  });

  it('When the Superfish root is added as an anchor, then the same chain becomes trusted (the anchor decides, not the name)', () => {
    const anchors = mergeTrustAnchors(systemTrustAnchors(), trustAnchorsFromPem([fs.readFileSync(fixturePath('x509', 'badssl', 'ca-superfish.crt'), 'utf8')]));
    expect(evaluateChain(referenceChain('badssl/subdomain-superfish.pem'), anchors)).toMatchObject({ trusted: true, complete: true });
  });

  it('When nothing is presented, then the evaluation is neither trusted nor complete', () => {
    expect(evaluateChain([], systemTrustAnchors())).toMatchObject({ trusted: false, complete: false, path: [] });
  });
});

describe('evaluateChain on a private CA', () => {
  it('When the root is given as an anchor via PEM, then leaf + intermediate is trusted and the path ends at the root', async () => {
    const { root, intermediate, leaf } = await aPrivateChain();
    const evaluation = evaluateChain([leaf.certificate, intermediate.certificate], trustAnchorsFromPem([root.pem]));
    expect(evaluation).toMatchObject({ trusted: true, complete: true });
    expect(evaluation.path.map((c) => c.fingerprintSha256)).toEqual([leaf, intermediate, root].map((t) => t.certificate.fingerprintSha256));
  });

  it('When only the system anchors are used, then the private chain is incomplete', async () => {
    const { intermediate, leaf } = await aPrivateChain();
    expect(evaluateChain([leaf.certificate, intermediate.certificate], systemTrustAnchors())).toMatchObject({ trusted: false, complete: false });
  });

  it('When the private root is presented but not an anchor, then the chain is complete and untrusted', async () => {
    const { root, intermediate, leaf } = await aPrivateChain();
    expect(evaluateChain([leaf.certificate, intermediate.certificate, root.certificate], NO_ANCHORS)).toMatchObject({ trusted: false, complete: true });
  });

  it('When an intermediate is the anchor, then the path stops there', async () => {
    const { intermediate, leaf } = await aPrivateChain();
    const evaluation = evaluateChain([leaf.certificate], trustAnchorsFromPem([intermediate.pem]));
    expect(evaluation).toMatchObject({ trusted: true, complete: true });
    expect(evaluation.path).toHaveLength(2);
  });

  it('When a self-signed leaf is itself an anchor, then it is trusted', async () => {
    const pinned = await aCertificate({ selfSigned: true });
    expect(evaluateChain([pinned.certificate], trustAnchorsFromPem([pinned.pem]))).toMatchObject({ trusted: true, complete: true });
  });

  it('When the leaf names its issuer correctly but its signature bytes were altered, then it does not link', async () => {
    const { root, intermediate, leaf } = await aPrivateChain();
    const tampered = Buffer.from(leaf.certificate.der);
    tampered[tampered.length - 1] ^= 0x01; // inside the signature value: still well-formed DER, same names and AKI
    const evaluation = evaluateChain([parseCertificate(tampered), intermediate.certificate], trustAnchorsFromPem([root.pem]));
    expect(evaluation).toMatchObject({ trusted: false, complete: false });
    expect(evaluation.path).toHaveLength(1);
  });

  it('When an impostor CA has the issuer name but another key, then it does not link and the path is incomplete', async () => {
    const genuine = await aCA({ subject: 'CN=Contoso Issuing CA' });
    const impostor = await aCA({ subject: 'CN=Contoso Issuing CA' });
    const leaf = await aCertificate({ issuer: genuine });
    const anchors: TrustAnchors = trustAnchorsFromPem([impostor.pem]);
    expect(evaluateChain([leaf.certificate, impostor.certificate], anchors)).toMatchObject({ trusted: false, complete: false });
    expect(evaluateChain([leaf.certificate], trustAnchorsFromPem([genuine.pem]))).toMatchObject({ trusted: true });
  });
});

describe('evaluateChain against x509-limbo chains', () => {
  interface LimboCase { id: string; peer_certificate: string; untrusted_intermediates: string[]; trusted_certs: string[] }
  const limbo = JSON.parse(fs.readFileSync(fixturePath('x509', 'x509-limbo', 'limbo.2023-12-02.json'), 'utf8')) as { testcases: LimboCase[] };
  const byId = (id: string) => limbo.testcases.find((t) => t.id === id)!;
  const cases = [
    ...limbo.testcases.filter((t) => t.id.startsWith('online::')).map((t) => ({ id: t.id, trusted: true, complete: true })),
    { id: 'webpki::cryptographydotio-chain', trusted: true, complete: true },
    { id: 'webpki::cryptographydotio-chain-missing-intermediate', trusted: false, complete: false },
    { id: 'pathological::intermediate-cycle-distinct-cas', trusted: false, complete: false },
    { id: 'pathological::intermediate-cycle-same-logical-ca', trusted: false, complete: false },
  ];

  it('When the limbo selection is built, then it holds the 14 online chains and 4 named cases', () => {
    expect(cases).toHaveLength(18);
  });

  it.each(cases)('When limbo $id is evaluated with its own trusted roots, then trusted=$trusted, complete=$complete', ({ id, trusted, complete }) => {
    const t = byId(id);
    const presented = [t.peer_certificate, ...t.untrusted_intermediates].map((pem) => parseCertificate(pem));
    expect(evaluateChain(presented, trustAnchorsFromPem(t.trusted_certs))).toMatchObject({ trusted, complete });
  });
});
