/**
 * How a long-running command names itself in the errors and hints of the parts it shares with the
 * others (control socket, metrics endpoint), so that each message names the service that failed.
 */

/** Who answers on a control socket or a metrics endpoint; words for messages and hints only. */
export interface ServiceIdentity {
  /** The command word, as messages name it: `daemon` ("the diswall daemon", "the daemon's control socket"). */
  readonly name: string
  /** Its systemd unit: `diswall`. */
  readonly unit: string
  /** The config setting of its control socket: `[daemon] socket`. */
  readonly socketSetting: string
  /** The command that talks to it over the control socket: `diswall status`. */
  readonly client: string
}
