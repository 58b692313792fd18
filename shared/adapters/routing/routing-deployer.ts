/**
 * RoutingDeployer: the Deployer port over several deployers, each chosen by the target's type
 * (files here; Key Vault, App Service / Front Door / Application Gateway bindings and RMM scripts
 * where their adapters are composed). A target no composed deployer handles is refused with a
 * PermanentError that says which runtime can deploy it, so the rotation escalates instead of
 * retrying a configuration that can never work. Restore, retire and read back go to the deployer
 * of the receipt's target type. Read back is offered for every type (the router cannot know which
 * receipt it will be given) and refused with a PermanentError for a type whose deployer has none:
 * only a handshake proves such a target, and answering null would claim the material is gone.
 */
import { SELF_VERIFYING_TARGET_TYPES, type DeploymentTarget, type DeploymentTargetType } from '../../config/model';
import { PermanentError } from '../../domain/errors';
import type { CertificateMaterial, Deployer, DeploymentReceipt } from '../../ports/deployer';

/** Where each target type is deployed from, for the refusal message. */
const WHERE: Record<DeploymentTargetType, string> = {
  files: 'any runtime (FilesDeployer)',
  'key-vault': 'the Azure runtime (the Key Vault adapter)',
  'app-service': 'the Azure runtime (an ARM binding deployer)',
  'front-door': 'the Azure runtime (an ARM binding deployer)',
  'application-gateway': 'the Azure runtime (an ARM binding deployer)',
  'rmm-script': 'a runtime with the tenant\'s RMM connector (NinjaOne or Datto RMM)',
};

export class RoutingDeployer implements Deployer {
  readonly handles: readonly DeploymentTargetType[];
  private readonly byType = new Map<DeploymentTargetType, Deployer>();

  constructor(deployers: readonly Deployer[]) {
    for (const deployer of deployers) {
      for (const type of deployer.handles) {
        if (this.byType.has(type)) throw new Error(`two deployers handle target type ${type}`);
        this.byType.set(type, deployer);
      }
    }
    this.handles = [...this.byType.keys()];
  }

  async deploy(target: DeploymentTarget, material: CertificateMaterial): Promise<DeploymentReceipt> {
    return this.for(target).deploy(target, material);
  }

  async restore(receipt: DeploymentReceipt): Promise<void> {
    return this.for(receipt.target).restore(receipt);
  }

  async retire(receipt: DeploymentReceipt): Promise<void> {
    return this.for(receipt.target).retire(receipt);
  }

  async readBack(receipt: DeploymentReceipt): Promise<{ fingerprintSha256: string } | null> {
    const deployer = this.for(receipt.target);
    if (!deployer.readBack) {
      throw new PermanentError(
        `${receipt.target.type} targets cannot be read back: only a handshake with an endpoint they serve proves them (self-verifying target types: ${SELF_VERIFYING_TARGET_TYPES.join(', ')})`,
      );
    }
    return deployer.readBack(receipt);
  }

  private for(target: DeploymentTarget): Deployer {
    const deployer = this.byType.get(target.type);
    if (!deployer) {
      throw new PermanentError(
        `no deployer for target type ${target.type} in this runtime (it deploys: ${this.handles.join(', ') || 'nothing'}); ${target.type} targets are deployed by ${WHERE[target.type]}`,
      );
    }
    return deployer;
  }
}
