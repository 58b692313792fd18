/** A configuration for the end-to-end tests: data under `dir`, quick timeouts, no console output. */
import path from 'node:path';
import type { CertopsConfig } from '../../shared/config/model';

export function aTestConfig(dir: string, config: Pick<CertopsConfig, 'tenants'> & Partial<CertopsConfig>): CertopsConfig {
  return {
    dataDir: path.join(dir, 'data'),
    discovery: { concurrency: 4, connectTimeoutMs: 1000, handshakeTimeoutMs: 2000 },
    notifications: { console: false },
    sweepSchedule: '0 0 2 * * *',
    ...config,
  };
}
