import type {Address, Network} from '../net/index.js'

/**
 * One line of log text, as a source delivers it to the detection engine.
 *
 * `source` says where the line comes from, and so which parsers may look at it:
 * - `'kmsg'`: a `/dev/kmsg` record (`6,1234,5678,-;MESSAGE`), the kernel packet log;
 * - `'journal:IDENT'`: the MESSAGE of a journald entry, IDENT being its `SYSLOG_IDENTIFIER`
 *   (`journal:kernel` for `_TRANSPORT=kernel` entries, `journal:sshd`, `journal:postfix/smtpd`); packet
 *   lines are read only from `journal:kernel`, and pattern files with `ident =` read only their own;
 * - `'journal'`: a journald MESSAGE whose identifier the source does not tell; it is read as a packet
 *   line and by the ban pattern files (not by auto-allow files with `ident =`), so a source should use
 *   it only for `_TRANSPORT=kernel` entries and label everything else `journal:IDENT`;
 * - `'unit:NAME'`: the MESSAGE of a journald entry of systemd service NAME whose trusted fields
 *   (`_SYSTEMD_UNIT`, `_UID`, `_EXE`) show the service wrote it (sources/service-journal.ts); read only
 *   by the pattern files with `unit = NAME`;
 * - `'nflog'`: a packet of the NFLOG group read with tcpdump, rewritten by the source as a kernel LOG line
 *   (`PREFIX SRC=… DST=… PROTO=TCP SPT=… DPT=…`);
 * - `'pipe'`: a line of the original DisWall named pipe (`IP PROTO PORT`, `IP` or `IP|TAG`);
 * - anything else: a log file followed like `tail -F`, as its path (`/var/log/auth.log`) or as
 *   `file:PATH` (`file:/var/log/auth.log`).
 *
 * Kernel packet lines are believed only from the kernel sources (`kmsg`, `journal`, `journal:kernel`,
 * `nflog`, `pipe`; DetectEngineOptions.kernelSources): a local user can write any text into a service log or
 * the journal (`logger`), and a faked `diswall-log: SRC=…` line must not ban anybody.
 */
export interface LogLine {
  /** The line without its line break. */
  text: string
  /** `'kmsg'`, `'journal'`, `'journal:IDENT'`, `'unit:NAME'`, `'nflog'`, `'pipe'` or a log file (`PATH` or `file:PATH`; see above). */
  source: string
  /** When the line was written, in ms since the epoch, if the source knows; informational only. */
  time?: number
  /**
   * The writing process's id, when the source knows it from a trusted field (journald `_PID`); for
   * other lines the engine reads it from the syslog header (`PROG[PID]:`, RFC 5424 PROCID).
   */
  pid?: number
}

/** A request to ban an offender, produced by the detection engine. */
export interface BanRequest {
  readonly kind: 'ban'
  /** What to ban: the offender itself, or its IPv6 group (`/64` by default) when grouping is on. */
  readonly target: Address | Network
  /** The offending address, as seen in the log. */
  readonly address: Address
  /**
   * Why, in at most 25 characters (the NATS `IP|TAG` tag): `port-scan 23/tcp`, or the `tag` of the
   * pattern file that matched (`ssh`, `smtp`, …).
   */
  readonly reason: string
  /** How long the ban lasts, in seconds: the pattern file's `ban =`, else `[firewall] block_timeout`. */
  readonly ttlSec?: number
  /** Destination port of the logged packet (closed-port probes only). */
  readonly port?: number
  /** Protocol of the logged packet in lower case (`tcp`, `udp`, …; closed-port probes only). */
  readonly proto?: string
  /** `source` of the line that completed the evidence. */
  readonly source: string
}

/** A request to allow an address for a while, produced by an auto-allow pattern (a successful login). */
export interface AllowRequest {
  readonly kind: 'allow'
  /** The address that logged in. */
  readonly address: Address
  /** How long the allow entry lasts, in seconds (`[detect] auto_allow_ttl`). */
  readonly ttlSec: number
  /** Comment stored with the entry, e.g. `ssh login root`. */
  readonly comment: string
  /** `source` of the line. */
  readonly source: string
}

/** What the detection engine yields. */
export type DetectEvent = AllowRequest | BanRequest
