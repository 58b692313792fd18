import path from 'node:path';
import { loadConfig } from '../../shared/config/load-config';

it('When the example configuration of the README is loaded, then it is valid and its defaults apply', () => {
  const config = loadConfig(path.resolve(__dirname, '../../examples/certops.yaml'));
  expect(config.tenants.map((t) => t.id)).toEqual(['contoso']);
  const target = config.tenants[0].managedCertificates?.[0].target;
  expect(target?.type === 'files' && target.reload?.command).toEqual(['nginx', '-s', 'reload']);
  expect(path.isAbsolute(config.dataDir)).toBe(true);
});
