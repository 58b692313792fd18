/** What Pebble itself says of a certificate it issued: its management interface (GET /cert-status-by-serial/<hex serial>). */
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { PebbleHandle } from '../../shared/demo/pebble-lab';

export async function statusAtPebble(certificatePem: string, ca: PebbleHandle): Promise<{ Status: string; Reason?: number }> {
  const serial = new X509Certificate(certificatePem).serialNumber.toLowerCase();
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get(`${ca.managementUrl}/cert-status-by-serial/${serial}`, { agent: ca.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`Pebble answered ${res.statusCode}: ${text}`))));
      })
      .on('error', reject);
  });
  const { Status, Reason } = JSON.parse(body) as { Status: string; Reason?: number };
  return Reason === undefined ? { Status } : { Status, Reason };
}
