import 'aws-sdk-client-mock-vitest/extend';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmSecretStore } from '../../functions/shared/adapters/ssm-secret-store';

const client = new SSMClient({ region: 'eu-west-1' });
const ssm = mockClient(client);
beforeEach(() => ssm.reset());

const NAME = '/switchback/prod/secrets/sidecar-api-key';

describe('SsmSecretStore', () => {
  it('asks SSM to decrypt the SecureString and returns its value', async () => {
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Name: NAME, Type: 'SecureString', Value: 'sk-123' } });
    await expect(new SsmSecretStore(client).get(NAME)).resolves.toBe('sk-123');
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: true });
  });

  it('caches the value for its max age instead of reading it on every call', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: 'sk-123' } });
    const store = new SsmSecretStore(client, 60);
    await store.get(NAME);
    await store.get(NAME);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('refuses an empty secret, without quoting any value', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: '' } });
    await expect(new SsmSecretStore(client).get(NAME)).rejects.toThrow(`Secret parameter ${NAME} is empty`);
  });
});
