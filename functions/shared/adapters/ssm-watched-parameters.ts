import {
  GetParameterCommand,
  type Parameter,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { SecureParameterRefusedError } from '../errors';
import type { WatchedParameterStore, WatchedValue } from '../ports';

/**
 * The application's watched parameters in SSM, by full name. Reads always ask for
 * `WithDecryption: false`, and a SecureString's (encrypted) value is dropped here, so only its
 * version ever leaves this adapter. Writes restore a plain value as a new version (PutParameter
 * with Overwrite: history stays intact) and are refused for a SecureString.
 */
export class SsmWatchedParameters implements WatchedParameterStore {
  constructor(private readonly client: SSMClient) {}

  async get(name: string): Promise<WatchedValue | undefined> {
    const p = await this.read(name);
    if (!p) return undefined;
    if (p.Version === undefined) throw new Error(`SSM returned no version for ${name}`);
    const type = p.Type === 'SecureString' || p.Type === 'StringList' ? p.Type : 'String';
    return { version: p.Version, type, value: type === 'SecureString' ? null : (p.Value ?? null) };
  }

  async put(name: string, value: string): Promise<{ version: number }> {
    const current = await this.read(name);
    if (current?.Type === 'SecureString') {
      throw new SecureParameterRefusedError(
        `${name} is a SecureString: Switchback never writes its value (restore it by hand)`,
      );
    }
    // The type it has (a StringList stays one); a parameter deleted since is created as a String.
    const Type = current?.Type === 'StringList' ? 'StringList' : 'String';
    const out = await this.client.send(
      new PutParameterCommand({ Name: name, Value: value, Overwrite: true, Type }),
    );
    if (out.Version === undefined) throw new Error(`SSM returned no version for ${name}`);
    return { version: out.Version };
  }

  private async read(name: string): Promise<Parameter | undefined> {
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: name, WithDecryption: false }));
      return out.Parameter;
    } catch (err) {
      if (err instanceof ParameterNotFound) return undefined;
      throw err;
    }
  }
}
