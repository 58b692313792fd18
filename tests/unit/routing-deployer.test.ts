/**
 * RoutingDeployer: one Deployer over several, chosen by the target's type; a type nobody in this
 * runtime handles is refused permanently, with where it can be deployed.
 */
import { RoutingDeployer } from '../../shared/adapters/routing/routing-deployer';
import type { DeploymentTarget, DeploymentTargetType } from '../../shared/config/model';
import { PermanentError } from '../../shared/domain/errors';
import type { CertificateMaterial, Deployer, DeploymentReceipt } from '../../shared/ports/deployer';

/** A fake of our own port: records what it was asked, answers with a receipt naming itself. */
class RecordingDeployer implements Deployer {
  readonly deployed: DeploymentTarget[] = [];
  readonly restored: DeploymentReceipt[] = [];
  readonly retired: DeploymentReceipt[] = [];
  readonly readBack?: (receipt: DeploymentReceipt) => Promise<{ fingerprintSha256: string } | null>;
  constructor(
    readonly name: string,
    readonly handles: readonly DeploymentTargetType[],
    /** Given: the deployer reads back (a self-verifying target) and answers this fingerprint. */
    readsBack?: string,
  ) {
    if (readsBack !== undefined) this.readBack = async () => ({ fingerprintSha256: readsBack });
  }
  async deploy(target: DeploymentTarget): Promise<DeploymentReceipt> {
    this.deployed.push(target);
    return { target, backup: { by: this.name }, deployedAt: '2030-06-01T00:00:00.000Z' };
  }
  async restore(receipt: DeploymentReceipt): Promise<void> {
    this.restored.push(receipt);
  }
  async retire(receipt: DeploymentReceipt): Promise<void> {
    this.retired.push(receipt);
  }
}

const MATERIAL: CertificateMaterial = { certificatePem: 'cert', chainPem: 'chain', privateKeyPem: 'key' };

const TARGETS: Record<DeploymentTargetType, DeploymentTarget> = {
  files: { type: 'files', certFile: '/etc/ssl/www.crt', keyFile: '/etc/ssl/private/www.key' },
  'key-vault': { type: 'key-vault', vaultUrl: 'https://contoso.vault.azure.net', certificateName: 'www-contoso' },
  'app-service': { type: 'app-service', resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/www' },
  'front-door': { type: 'front-door', resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cdn/profiles/fd' },
  'application-gateway': { type: 'application-gateway', resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/agw' },
  'rmm-script': { type: 'rmm-script', rmm: 'ninjaone', deviceId: 'dev-42', site: 'Default Web Site' },
};

function aRouter() {
  const files = new RecordingDeployer('files', ['files']);
  const azure = new RecordingDeployer('azure', ['key-vault', 'app-service'], 'ab'.repeat(32));
  return { files, azure, router: new RoutingDeployer([files, azure]) };
}

/** The refusal, whether thrown at once or as a rejected promise (callers await either way). */
async function refusalOf(fn: () => unknown): Promise<PermanentError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PermanentError) return err;
    throw err;
  }
  throw new Error('expected a PermanentError, but the call was accepted');
}

describe('RoutingDeployer', () => {
  it('When composed, then it handles the union of its deployers’ types', () => {
    expect([...aRouter().router.handles].sort()).toEqual(['app-service', 'files', 'key-vault']);
  });

  it.each([
    { type: 'files' as const, expected: 'files' },
    { type: 'key-vault' as const, expected: 'azure' },
    { type: 'app-service' as const, expected: 'azure' },
  ])('When a $type target is deployed, then the $expected deployer gets it (and only it)', async ({ type, expected }) => {
    const { files, azure, router } = aRouter();

    const receipt = await router.deploy(TARGETS[type], MATERIAL);

    expect(receipt.backup).toEqual({ by: expected });
    const chosen = expected === 'files' ? files : azure;
    const other = expected === 'files' ? azure : files;
    expect(chosen.deployed).toEqual([TARGETS[type]]);
    expect(other.deployed).toEqual([]);
  });

  it('When a receipt is restored, then the deployer of the receipt’s target type gets it', async () => {
    const { files, azure, router } = aRouter();
    const vaultReceipt: DeploymentReceipt = { target: TARGETS['key-vault'], backup: {}, deployedAt: '2030-06-01T00:00:00.000Z' };
    const filesReceipt: DeploymentReceipt = { target: TARGETS.files, backup: {}, deployedAt: '2030-06-01T00:00:00.000Z' };

    await router.restore(vaultReceipt);
    await router.restore(filesReceipt);

    expect(azure.restored).toEqual([vaultReceipt]);
    expect(files.restored).toEqual([filesReceipt]);
  });

  it.each([
    { type: 'front-door' as const, where: 'the Azure runtime (an ARM binding deployer)' },
    { type: 'application-gateway' as const, where: 'the Azure runtime (an ARM binding deployer)' },
    { type: 'rmm-script' as const, where: "a runtime with the tenant's RMM connector (NinjaOne or Datto RMM)" },
  ])('When a $type target is deployed and no deployer handles it, then PermanentError names the type, what this runtime deploys and where $type is deployed', async ({ type, where }) => {
    const { files, azure, router } = aRouter();

    const error = await refusalOf(() => router.deploy(TARGETS[type], MATERIAL));

    expect(error.message).toContain(`no deployer for target type ${type}`);
    expect(error.message).toContain('it deploys: files, key-vault, app-service');
    expect(error.message).toContain(`deployed by ${where}`);
    expect(files.deployed).toEqual([]);
    expect(azure.deployed).toEqual([]);
  });

  it('When a receipt of an unhandled type is restored, then PermanentError names the type', async () => {
    const error = await refusalOf(() => aRouter().router.restore({ target: TARGETS['rmm-script'], backup: {}, deployedAt: '2030-06-01T00:00:00.000Z' }));
    expect(error.message).toContain('rmm-script');
  });

  it('When the router has no deployers, then every target is refused and the message says it deploys nothing', async () => {
    const error = await refusalOf(() => new RoutingDeployer([]).deploy(TARGETS['key-vault'], MATERIAL));
    expect(error.message).toContain('it deploys: nothing');
    expect(error.message).toContain('the Azure runtime (the Key Vault adapter)');
  });

  it('When two deployers claim one type, then construction fails naming the type', () => {
    const first = new RecordingDeployer('a', ['files', 'key-vault']);
    const second = new RecordingDeployer('b', ['rmm-script', 'key-vault']);
    expect(() => new RoutingDeployer([first, second])).toThrow('two deployers handle target type key-vault');
  });

  it('When one deployer lists a type twice, then construction fails too (a type is routed to exactly one)', () => {
    expect(() => new RoutingDeployer([new RecordingDeployer('a', ['files', 'files'])])).toThrow(/files/);
  });
});

const receiptFor = (type: DeploymentTargetType): DeploymentReceipt => ({ target: TARGETS[type], backup: {}, deployedAt: '2030-06-01T00:00:00.000Z' });

describe('Defect 10: retired private keys stay forever', () => {
  it('When receipts are retired, then the deployer of each receipt’s target type gets its own (and only it)', async () => {
    const { files, azure, router } = aRouter();

    await router.retire(receiptFor('key-vault'));
    await router.retire(receiptFor('files'));

    expect(azure.retired).toEqual([receiptFor('key-vault')]);
    expect(files.retired).toEqual([receiptFor('files')]);
  });

  it('When a receipt of an unhandled type is retired, then PermanentError names the type', async () => {
    const error = await refusalOf(() => aRouter().router.retire(receiptFor('rmm-script')));
    expect(error.message).toContain('no deployer for target type rmm-script');
  });
});

describe('Defect 2: a rotation committed with zero verification (reading back a self-verifying target)', () => {
  it('When a Key Vault receipt is read back, then the deployer of its type answers', async () => {
    expect(await aRouter().router.readBack(receiptFor('key-vault'))).toEqual({ fingerprintSha256: 'ab'.repeat(32) });
  });

  it.each([
    { case: 'a files receipt (its deployer cannot read back)', type: 'files' as const, says: 'files targets cannot be read back' },
    { case: 'a receipt of an unhandled type', type: 'rmm-script' as const, says: 'no deployer for target type rmm-script' },
  ])('When $case is read back, then PermanentError says so instead of a fingerprint or null', async ({ type, says }) => {
    const error = await refusalOf(() => aRouter().router.readBack(receiptFor(type)));
    expect(error.message).toContain(says);
  });
});
