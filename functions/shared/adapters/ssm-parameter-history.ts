import { ParameterNotFound, paginateGetParameterHistory, type SSMClient } from '@aws-sdk/client-ssm';
import type { ParameterHistory, ParameterVersion } from '../ports';

/**
 * A parameter's versions from GetParameterHistory, always with `WithDecryption: false`: a
 * SecureString's value is then ciphertext, and even that is dropped here, so only its versions
 * ever leave this adapter (the step's role has no kms:Decrypt either).
 */
export class SsmParameterHistory implements ParameterHistory {
  constructor(private readonly client: SSMClient) {}

  async history(name: string): Promise<ParameterVersion[]> {
    const versions: ParameterVersion[] = [];
    try {
      for await (const page of paginateGetParameterHistory(
        { client: this.client },
        { Name: name, WithDecryption: false, MaxResults: 50 },
      )) {
        for (const p of page.Parameters ?? []) {
          if (p.Version === undefined || p.LastModifiedDate === undefined) continue;
          const type = p.Type === 'SecureString' || p.Type === 'StringList' ? p.Type : 'String';
          versions.push({
            version: p.Version,
            type,
            value: type === 'SecureString' ? null : (p.Value ?? null),
            modifiedAt: p.LastModifiedDate,
            modifiedBy: p.LastModifiedUser ?? null,
          });
        }
      }
    } catch (err) {
      if (err instanceof ParameterNotFound) return [];
      throw err;
    }
    return versions.sort((a, b) => a.version - b.version);
  }
}
