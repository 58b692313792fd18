/**
 * The demo's world: two client tenants with a fleet of real TLS servers on loopback addresses
 * (127.0.0.x, one shared port), certificates in every state an MSP meets, and the configuration
 * that describes them. Certificates of the "existing" estate come from a demo root that the
 * tenants trust (standing in for the public web PKI, which cannot issue here).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import type { CertopsConfig, TenantConfig } from '../config/model';
import { MS_PER_DAY } from '../domain/clock';
import { createCertificate, generateKeyPair, type KeyPair, type KeySpec } from '../adapters/local/certificate-factory';
import { TlsFleet, type FleetServerSpec } from './tls-fleet';

interface ServerPlan {
  name: string;
  address: string;
  dnsNames: string[];
  /** Days until notAfter (negative: expired) and the whole lifetime. */
  daysLeft: number;
  lifetimeDays: number;
  key?: KeySpec;
  selfSigned?: boolean;
  /** Serve the files of another server (the same certificate on two endpoints). */
  sameFilesAs?: string;
}

const PLANS: ServerPlan[] = [
  { name: 'www.contoso', address: '127.0.0.2', dnsNames: ['www.contoso.test'], daysLeft: 70, lifetimeDays: 90 },
  { name: 'shop.contoso', address: '127.0.0.3', dnsNames: ['shop.contoso.test'], daysLeft: 3, lifetimeDays: 90 },
  { name: 'legacy.contoso', address: '127.0.0.4', dnsNames: ['legacy.contoso.test'], daysLeft: -12, lifetimeDays: 365 },
  { name: 'api-a.contoso', address: '127.0.0.5', dnsNames: ['api.contoso.test'], daysLeft: 60, lifetimeDays: 90 },
  { name: 'api-b.contoso', address: '127.0.0.6', dnsNames: ['api.contoso.test'], daysLeft: 15, lifetimeDays: 90 },
  { name: 'mail.fabrikam', address: '127.0.0.7', dnsNames: ['webmail.fabrikam.test'], daysLeft: 50, lifetimeDays: 90 },
  { name: 'intranet.fabrikam', address: '127.0.0.8', dnsNames: ['intranet.fabrikam.test'], daysLeft: 300, lifetimeDays: 365, selfSigned: true },
  { name: 'vpn.fabrikam', address: '127.0.0.9', dnsNames: ['vpn.fabrikam.test'], daysLeft: 200, lifetimeDays: 365, key: 'rsa-1024' },
  { name: 'portal.fabrikam', address: '127.0.0.10', dnsNames: ['portal.fabrikam.test', 'portal-eu.fabrikam.test'], daysLeft: 25, lifetimeDays: 90 },
  { name: 'portal-eu.fabrikam', address: '127.0.0.11', dnsNames: [], daysLeft: 0, lifetimeDays: 0, sameFilesAs: 'portal.fabrikam' },
];

export interface DemoWorld {
  fleet: TlsFleet;
  config: CertopsConfig;
  hosts: Record<string, string[]>;
  port: number;
  workDir: string;
  managedEndpoints: string[];
}

export async function freePort(): Promise<number> {
  // Bound on the wildcard address, so no wildcard listener holds it on any 127.0.0.x either.
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A lab ACME CA for the demo (Pebble): contoso's shop certificate is then renewed through it. */
export interface DemoAcme {
  directoryUrl: string;
  directoryCaFile: string;
  rootFile: string;
  httpChallengePort: number;
}

export async function buildDemoWorld(
  workDir: string,
  now: Date,
  webhook?: { url: string; secretEnv: string },
  acme?: DemoAcme,
  /** The API the notifications' Review / Override / Escalate links lead to (tokens signed by the local key). */
  api?: { actionsBaseUrl: string },
): Promise<DemoWorld> {
  const pki = path.join(workDir, 'pki');
  mkdirSync(pki, { recursive: true });
  const rootKey = await generateKeyPair('ec-p256');
  const root = await createCertificate({
    subject: 'O=certops demo, CN=Demo Public Root',
    notBefore: new Date(now.getTime() - 400 * MS_PER_DAY),
    notAfter: new Date(now.getTime() + 3650 * MS_PER_DAY),
    isCA: true,
    key: rootKey,
  });
  const rootFile = path.join(pki, 'demo-public-root.pem');
  writeFileSync(rootFile, root.certificatePem);

  const files = new Map<string, { certFile: string; keyFile: string }>();
  for (const plan of PLANS.filter((p) => !p.sameFilesAs)) {
    files.set(plan.name, await writeServerCertificate(path.join(workDir, 'servers', plan.name), plan, now, { certificatePem: root.certificatePem, key: rootKey }));
  }
  const port = await freePort();
  const specs: FleetServerSpec[] = PLANS.map((p) => ({ name: p.name, address: p.address, port, ...files.get(p.sameFilesAs ?? p.name)! }));
  const fleet = await TlsFleet.start(specs);

  const hosts: Record<string, string[]> = {
    'www.contoso.test': ['127.0.0.2'],
    'shop.contoso.test': ['127.0.0.3'],
    'legacy.contoso.test': ['127.0.0.4'],
    'api.contoso.test': ['127.0.0.5', '127.0.0.6'],
    'mail.fabrikam.test': ['127.0.0.7'],
    'intranet.fabrikam.test': ['127.0.0.8'],
    'vpn.fabrikam.test': ['127.0.0.9'],
    'portal.fabrikam.test': ['127.0.0.10'],
    'portal-eu.fabrikam.test': ['127.0.0.11'],
    'old.fabrikam.test': ['127.0.0.12'], // nothing listens there: refused
  };
  const target = (server: string, reload: { url?: string; command?: string[] }) => ({
    type: 'files' as const,
    certFile: files.get(server)!.certFile,
    keyFile: files.get(server)!.keyFile,
    reload,
  });
  // One reload command for the two portal servers that share their files (a real argv, no shell).
  const portalReload = fleet.reloadCommand(['portal.fabrikam', 'portal-eu.fabrikam']);

  const contoso: TenantConfig = {
    id: 'contoso',
    name: 'Contoso Ltd',
    assignee: { name: 'Alice Nguyen', email: 'alice@msp.example' },
    escalation: { name: 'MSP on-call', email: 'oncall@msp.example' },
    trustedCaFiles: acme ? [rootFile, acme.rootFile] : [rootFile],
    ...(acme
      ? { acme: { directoryUrl: acme.directoryUrl, challenge: 'http-01' as const, directoryCaFile: acme.directoryCaFile, http01: { listenPort: acme.httpChallengePort } } }
      : {}),
    endpoints: [
      { host: 'www.contoso.test', port, managed: 'www' },
      { host: 'shop.contoso.test', port, managed: 'shop' },
      { host: 'legacy.contoso.test', port },
      { host: 'api.contoso.test', port },
    ],
    managedCertificates: [
      { id: 'www', dnsNames: ['www.contoso.test'], issuer: 'local-ca', target: target('www.contoso', { url: fleet.reloadUrl('www.contoso') }) },
      { id: 'shop', dnsNames: ['shop.contoso.test'], issuer: acme ? 'acme' : 'local-ca', target: target('shop.contoso', { url: fleet.reloadUrl('shop.contoso') }) },
    ],
  };
  const fabrikam: TenantConfig = {
    id: 'fabrikam',
    name: 'Fabrikam Inc',
    assignee: { name: 'Bob Okafor', email: 'bob@msp.example' },
    policy: { renewal: { renewBeforeDays: 30 } },
    trustedCaFiles: [rootFile],
    endpoints: [
      { host: 'mail.fabrikam.test', port, managed: 'mail' },
      { host: 'intranet.fabrikam.test', port },
      { host: 'vpn.fabrikam.test', port },
      { host: 'portal.fabrikam.test', port, managed: 'portal' },
      { host: 'portal-eu.fabrikam.test', port, managed: 'portal' },
      { host: 'old.fabrikam.test', port },
      { host: 'ghost.fabrikam.test', port },
    ],
    managedCertificates: [
      { id: 'mail', dnsNames: ['mail.fabrikam.test'], issuer: 'local-ca', keyType: 'rsa-2048', target: target('mail.fabrikam', { url: fleet.reloadUrl('mail.fabrikam') }) },
      { id: 'portal', dnsNames: ['portal.fabrikam.test', 'portal-eu.fabrikam.test'], issuer: 'local-ca', target: target('portal.fabrikam', { command: portalReload }) },
    ],
  };
  const config: CertopsConfig = {
    dataDir: path.join(workDir, 'data'),
    discovery: { concurrency: 16, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    notifications: { console: true, outboxFile: path.join(workDir, 'notifications.jsonl'), webhook, ...(api ? { actionsBaseUrl: api.actionsBaseUrl } : {}) },
    ...(api ? { api: { auth: { mode: 'local' as const } } } : {}),
    hosts,
    sweepSchedule: '0 0 2 * * *',
    tenants: [contoso, fabrikam],
  };
  const managedEndpoints = ['www.contoso', 'shop.contoso', 'mail.fabrikam', 'portal.fabrikam', 'portal-eu.fabrikam'];
  return { fleet, config, hosts, port, workDir, managedEndpoints };
}

async function writeServerCertificate(
  dir: string,
  plan: ServerPlan,
  now: Date,
  issuer: { certificatePem: string; key: KeyPair },
): Promise<{ certFile: string; keyFile: string }> {
  mkdirSync(dir, { recursive: true });
  const key = await generateKeyPair(plan.key ?? 'ec-p256');
  const notAfter = new Date(now.getTime() + plan.daysLeft * MS_PER_DAY);
  const cert = await createCertificate({
    subject: `CN=${plan.dnsNames[0]}`,
    dnsNames: plan.dnsNames,
    notBefore: new Date(notAfter.getTime() - plan.lifetimeDays * MS_PER_DAY),
    notAfter,
    key,
    issuer: plan.selfSigned ? undefined : issuer,
  });
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  writeFileSync(certFile, plan.selfSigned ? cert.certificatePem : cert.certificatePem + issuer.certificatePem);
  writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
  return { certFile, keyFile };
}
