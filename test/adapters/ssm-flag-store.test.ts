import 'aws-sdk-client-mock-vitest/extend';
import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmFlagStore } from '../../functions/shared/adapters/ssm-flag-store';
import { FlagNotFoundError } from '../../functions/shared/errors';

const client = new SSMClient({ region: 'eu-west-1' });
const ssm = mockClient(client);
beforeEach(() => ssm.reset());

describe('SsmFlagStore', () => {
  it('reads a flag by its full name under the prefix, with its version', async () => {
    ssm.on(GetParameterCommand, { Name: '/switchback/prod/memory/provider' }).resolves({
      Parameter: { Name: '/switchback/prod/memory/provider', Value: 'http', Version: 7, Type: 'String' },
    });
    const store = new SsmFlagStore(client, '/switchback/prod');
    await expect(store.get('memory/provider')).resolves.toEqual({ value: 'http', version: 7 });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('builds the name without doubling a trailing slash of the prefix', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'off', Version: 1 } });
    await new SsmFlagStore(client, '/switchback/prod//').get('maintenance-mode');
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/switchback/prod/maintenance-mode' });
  });

  it('turns ParameterNotFound into FlagNotFoundError naming the parameter', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const err = await new SsmFlagStore(client, '/switchback/prod').get('automation/paused').then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(FlagNotFoundError);
    expect(err.message).toContain('/switchback/prod/automation/paused');
  });

  it('treats a parameter without value or version as not found', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/switchback/prod/memory/provider' } });
    await expect(new SsmFlagStore(client, '/switchback/prod').get('memory/provider')).rejects.toBeInstanceOf(
      FlagNotFoundError,
    );
  });

  it('lets other SSM errors through unchanged (the SDK retries throttling itself)', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    ssm.on(GetParameterCommand).rejects(throttled);
    const err = await new SsmFlagStore(client, '/switchback/prod').get('memory/provider').then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err.name).toBe('ThrottlingException');
  });

  it('overwrites a String parameter and returns the new version', async () => {
    ssm.on(PutParameterCommand).resolves({ Version: 8 });
    const put = await new SsmFlagStore(client, '/switchback/prod').put('memory/provider', 'native');
    expect(put).toEqual({ value: 'native', version: 8 });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: '/switchback/prod/memory/provider',
      Value: 'native',
      Overwrite: true,
      Type: 'String',
    });
  });

  it('refuses a put that SSM reports without a version', async () => {
    ssm.on(PutParameterCommand).resolves({});
    await expect(new SsmFlagStore(client, '/switchback/prod').put('memory/provider', 'http')).rejects.toThrow(
      'no version',
    );
  });
});
