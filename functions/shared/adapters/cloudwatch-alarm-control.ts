import { type CloudWatchClient, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { AlarmControl } from '../ports';

/** SetAlarmState: a drill's way through the real detection path (the alarm's EventBridge rule fires). */
export class CloudWatchAlarmControl implements AlarmControl {
  constructor(private readonly client: CloudWatchClient) {}

  async setState(alarmName: string, state: 'ALARM' | 'OK', reason: string): Promise<void> {
    // Temporary by design: CloudWatch sets the alarm back to its actual state at its next periodic
    // check (about a minute, per the SetAlarmState reference); the drill sets OK itself at its end.
    await this.client.send(
      new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: state, StateReason: reason }),
    );
  }
}
