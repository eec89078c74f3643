import {
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { FlagNotFoundError } from '../errors';
import { type FlagName, flagParameterName } from '../flags';
import type { FlagStore, FlagValue } from '../ports';

/** Flags as SSM String parameters under the environment's prefix. Reads are never cached. */
export class SsmFlagStore implements FlagStore {
  constructor(
    private readonly client: SSMClient,
    private readonly prefix: string,
  ) {}

  async get(name: FlagName): Promise<FlagValue> {
    const Name = flagParameterName(this.prefix, name);
    try {
      const out = await this.client.send(new GetParameterCommand({ Name }));
      const p = out.Parameter;
      if (p?.Value === undefined || p.Version === undefined)
        throw new FlagNotFoundError(`Flag ${Name} has no value`);
      return { value: p.Value, version: p.Version };
    } catch (err) {
      if (err instanceof ParameterNotFound)
        throw new FlagNotFoundError(`Flag parameter ${Name} does not exist`);
      throw err;
    }
  }

  async put(name: FlagName, value: string): Promise<FlagValue> {
    const Name = flagParameterName(this.prefix, name);
    const out = await this.client.send(
      new PutParameterCommand({ Name, Value: value, Overwrite: true, Type: 'String' }),
    );
    if (out.Version === undefined) throw new Error(`SSM returned no version for ${Name}`);
    return { value, version: out.Version };
  }
}
