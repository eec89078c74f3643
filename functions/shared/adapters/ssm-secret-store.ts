import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { SecretStore } from '../ports';

/** SecureString parameters, decrypted in the function and cached briefly by Powertools. */
export class SsmSecretStore implements SecretStore {
  private readonly provider: SSMProvider;
  constructor(
    client: SSMClient,
    private readonly maxAgeSeconds = 60,
  ) {
    this.provider = new SSMProvider({ awsSdkV3Client: client });
  }

  async get(parameterName: string): Promise<string> {
    const value = await this.provider.get(parameterName, { decrypt: true, maxAge: this.maxAgeSeconds });
    if (typeof value !== 'string' || value.length === 0)
      throw new Error(`Secret parameter ${parameterName} is empty`);
    return value;
  }
}
