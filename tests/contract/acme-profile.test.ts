/**
 * ACME certificate profiles (draft-aaron-acme-profiles): the order names the profile the tenant
 * chose, when the CA advertises it. Pebble behind tests/support/acme-front.ts, which advertises
 * profiles in the directory and records what each newOrder asked for (Pebble 2.4 has none).
 */
import { PermanentError } from '../../shared/domain/errors';
import { ChalltestsrvDnsSolver } from '../../shared/adapters/acme/challtestsrv-dns-solver';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { startAcmeFront, type AcmeFront } from '../support/acme-front';
import { aDns01Issuer, aRequestFor } from '../support/acme-builders';

jest.setTimeout(30_000);

let pebble: PebbleHandle;
let withProfiles: AcmeFront;
let without: AcmeFront;

beforeAll(async () => {
  pebble = await startPebble({ env: { PEBBLE_WFE_NONCEREJECT: '0' } });
  withProfiles = await startAcmeFront(pebble, { ari: false, profiles: { classic: 'the 90-day default', shortlived: 'six days' } });
  without = await startAcmeFront(pebble, { ari: false });
});

afterAll(async () => {
  await withProfiles?.close();
  await without?.close();
  await pebble?.stop();
});

const issuerAt = (front: AcmeFront, profile?: string) =>
  aDns01Issuer(pebble, new ChalltestsrvDnsSolver(pebble.dns.managementUrl), { directoryUrl: front.directoryUrl, tlsCa: front.tlsCaPem, profile });

it('When the tenant chose a profile the CA advertises, then the order asks for it', async () => {
  await issuerAt(withProfiles, 'shortlived').issue(aRequestFor(['short.contoso.test']));
  expect(withProfiles.newOrders.map((o) => o.profile)).toEqual(['shortlived']);
});

it('When no profile is chosen, then the order names none (the CA\'s default)', async () => {
  await issuerAt(withProfiles).issue(aRequestFor(['default.contoso.test']));
  expect(withProfiles.newOrders.at(-1)?.profile).toBeUndefined();
});

it.each([
  ['a profile the CA does not offer', () => withProfiles, /offers no certificate profile "tlsserver" \(offered: classic, shortlived\)/],
  ['any profile at a CA that advertises none', () => without, /offers no certificate profile "tlsserver" \(it advertises no profiles\)/],
])('When the tenant asks for %s, then issuance fails permanently, saying what is offered, before ordering', async (_case, front, message) => {
  const orders = front().newOrders.length;
  const failure = issuerAt(front(), 'tlsserver').issue(aRequestFor(['other.contoso.test']));
  await expect(failure).rejects.toThrow(PermanentError);
  await expect(failure).rejects.toThrow(message);
  expect(front().newOrders).toHaveLength(orders);
});
