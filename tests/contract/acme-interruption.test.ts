/**
 * A CA that goes away in the middle of an order: Pebble is restarted after the order was created
 * and its challenge published (Pebble forgets every account and order). The issuance restarts
 * cleanly from a new order and yields exactly one certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { DnsChallengeRecord, DnsSolver } from '../../shared/ports/dns-solver';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { aDns01Issuer, aRequestFor } from '../support/acme-builders';

jest.setTimeout(60_000);

let pebble: PebbleHandle;

beforeAll(async () => {
  pebble = await startPebble();
});

afterAll(async () => {
  await pebble?.stop();
});

/** Publishes records through challtestsrv; the first time, it also restarts the CA. */
class CaOutageOnFirstPresent implements DnsSolver {
  readonly presented: string[] = [];
  private restarted = false;
  constructor(private readonly inner: DnsSolver) {}
  async present(record: DnsChallengeRecord): Promise<void> {
    this.presented.push(record.fqdn);
    await this.inner.present(record);
    if (!this.restarted) {
      this.restarted = true;
      await pebble.restart(); // the order exists at the CA now; the CA goes down and comes back without it
    }
  }
  async cleanup(record: DnsChallengeRecord): Promise<void> {
    await this.inner.cleanup(record);
  }
}

it('When the CA restarts in the middle of an order, then issuance starts a new order once it is back and returns one valid certificate', async () => {
  const dns = new CaOutageOnFirstPresent(new ChalltestsrvDnsSolver(pebble.dns.managementUrl));
  const logs: string[] = [];
  const issuer = aDns01Issuer(pebble, dns, { sleep: undefined, logger: { info: () => undefined, warn: (_obj, msg) => logs.push(msg) } });

  const issued = await issuer.issue(aRequestFor(['www.contoso.test']));

  // Pebble came back without the account: the issuer looked the account up again (registering the
  // stored key) and ordered anew, so the challenge was published a second time, for the new order.
  expect(logs).toEqual([]);
  expect(dns.presented).toEqual(['_acme-challenge.www.contoso.test', '_acme-challenge.www.contoso.test']);
  const leaf = new X509Certificate(issued.certificatePem);
  expect(leaf.subjectAltName).toBe('DNS:www.contoso.test');
  const root = new X509Certificate(await pebble.rootPem()); // the restarted Pebble's root
  const chain = issued.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p));
  expect(leaf.verify(chain[0].publicKey)).toBe(true);
  expect(chain[chain.length - 1].verify(root.publicKey)).toBe(true);
});
