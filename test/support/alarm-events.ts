/** Events in the documented `CloudWatch Alarm State Change` shape (one builder for tests and rehearsal). */
export { alarmStateChange } from '../../local/alarm-event';
