import 'aws-sdk-client-mock-vitest/extend';
import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmWatchedParameters } from '../../functions/shared/adapters/ssm-watched-parameters';
import { SecureParameterRefusedError } from '../../functions/shared/errors';

const client = new SSMClient({ region: 'eu-west-1' });
const ssm = mockClient(client);
beforeEach(() => ssm.reset());

const NAME = '/memory/prod/mcp/AUTONOMOUS_MODE';
const SECURE = '/memory/prod/mem0/API_KEY';
// What GetParameter returns for a SecureString without decryption: its ciphertext.
const CIPHERTEXT = 'AQICAHhNotARealSecretButNeverToBeSeen==';

function secureParameter() {
  ssm
    .on(GetParameterCommand, { Name: SECURE })
    .resolves({ Parameter: { Name: SECURE, Type: 'SecureString', Value: CIPHERTEXT, Version: 4 } });
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e as Error,
  );

describe('SsmWatchedParameters.get', () => {
  it('reads a String parameter with its version, never asking for decryption', async () => {
    ssm
      .on(GetParameterCommand, { Name: NAME })
      .resolves({ Parameter: { Name: NAME, Type: 'String', Value: 'false', Version: 12 } });
    await expect(new SsmWatchedParameters(client).get(NAME)).resolves.toEqual({
      version: 12,
      type: 'String',
      value: 'false',
    });
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: false });
  });

  it('keeps a StringList as one', async () => {
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Name: NAME, Type: 'StringList', Value: 'a,b', Version: 2 } });
    await expect(new SsmWatchedParameters(client).get(NAME)).resolves.toEqual({
      version: 2,
      type: 'StringList',
      value: 'a,b',
    });
  });

  it('returns only the version of a SecureString: its value (even encrypted) never leaves', async () => {
    secureParameter();
    const got = await new SsmWatchedParameters(client).get(SECURE);
    expect(got).toEqual({ version: 4, type: 'SecureString', value: null });
    expect(JSON.stringify(got)).not.toContain(CIPHERTEXT);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: SECURE, WithDecryption: false });
  });

  it('answers undefined for a parameter that does not exist', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    await expect(new SsmWatchedParameters(client).get(NAME)).resolves.toBeUndefined();
  });

  it('lets other SSM errors through unchanged', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    ssm.on(GetParameterCommand).rejects(denied);
    const err = await rejection(new SsmWatchedParameters(client).get(NAME));
    expect(err.name).toBe('AccessDeniedException');
  });
});

describe('SsmWatchedParameters.put', () => {
  it('writes the value as a new version of the String it is (Overwrite), returning that version', async () => {
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Name: NAME, Type: 'String', Value: 'true', Version: 12 } });
    ssm.on(PutParameterCommand).resolves({ Version: 13 });
    await expect(new SsmWatchedParameters(client).put(NAME, 'false')).resolves.toEqual({ version: 13 });
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: false });
    const puts = ssm.commandCalls(PutParameterCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.args[0].input).toEqual({ Name: NAME, Value: 'false', Overwrite: true, Type: 'String' });
  });

  it('keeps a StringList a StringList', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Type: 'StringList', Value: 'a', Version: 1 } });
    ssm.on(PutParameterCommand).resolves({ Version: 2 });
    await new SsmWatchedParameters(client).put(NAME, 'a,b');
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Type: 'StringList', Value: 'a,b' });
  });

  it('creates a parameter deleted since as a String', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    ssm.on(PutParameterCommand).resolves({ Version: 1 });
    await expect(new SsmWatchedParameters(client).put(NAME, 'true')).resolves.toEqual({ version: 1 });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: NAME,
      Value: 'true',
      Overwrite: true,
      Type: 'String',
    });
  });

  it('refuses to write a SecureString, writing nothing and naming no value', async () => {
    secureParameter();
    const err = await rejection(new SsmWatchedParameters(client).put(SECURE, 'plain'));
    expect(err).toBeInstanceOf(SecureParameterRefusedError);
    expect(err.name).toBe('SecureParameterRefusedError');
    expect(err.message).toContain(SECURE);
    expect(err.message).not.toContain(CIPHERTEXT);
    expect(err.message).not.toContain('plain');
    expect(ssm).toHaveReceivedCommandTimes(PutParameterCommand, 0);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: SECURE, WithDecryption: false });
  });

  it('fails loudly when SSM returns no version', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Type: 'String', Value: 'x', Version: 1 } });
    ssm.on(PutParameterCommand).resolves({});
    const err = await rejection(new SsmWatchedParameters(client).put(NAME, 'y'));
    expect(err.message).toBe(`SSM returned no version for ${NAME}`);
  });
});
