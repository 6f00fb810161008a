/**
 * P5 of DESIGN.md: log lines per second through the detection engine on one core. Pure CPU: no
 * namespaces, no kernel, no I/O. The lines are built in chunks of 2,000 outside the timed part
 * and dropped after use: in production lines arrive and die young. (Chunks of 100,000 lines, ~20 MB
 * alive through the timed part, made every scavenge copy them: 612k / 177k lines/s for p5.sshd and
 * p5.sshd.attack in one run on the 2-vCPU bench VM, 958k / 250k with small chunks in a later one.)
 *
 * - `p5.sshd`: 1,000,000 lines of a busy /var/log/auth.log (Debian 12 rsyslog format): 90% unrelated
 *   syslog lines (cron, sudo, systemd, logind, polkit, …) and 10% sshd lines (failed passwords, invalid
 *   users, PAM failures, pre-auth disconnects, accepted logins and harmless sshd chatter) from 20,000
 *   addresses, through the shipped `openssh.patterns` and `openssh-accepted.patterns`;
 * - `p5.sshd.attack`: an auth.log under attack, every line sshd's (the same sshd mix), through the shipped
 *   sshd files at `[detect] level = "aggressive"`, so every regex runs and most lines match;
 * - `p5.journal.all`: the same mix as journald MESSAGE fields of unknown identifier (`journal`), so the
 *   kernel-log check and every shipped pattern file see every line;
 * - `p5.kernel`: 1,000,000 netfilter LOG records from /dev/kmsg (closed-port probes from 100,000
 *   addresses) through the port policy.
 */
import {defaultConfig} from '../../src/lib/config/index.js'
import {
  DetectEngine,
  type DetectEngineOptions,
  type LogLine,
  shippedPatternFiles,
} from '../../src/lib/detect/index.js'
import {type BenchResult, formatInt, result, type Target} from '../lib/report.js'
import {type BenchSuite, scaled, secondsSince, type SuiteContext} from '../lib/suite.js'

/** Log lines through the detection engine on one core (DESIGN.md "Performance targets", P5). */
export const P5_TARGET: Target = {id: 'P5', kind: 'min-rate', perSecond: 400_000}

const LINE_COUNT = 1_000_000
const CHUNK = 2000
const ATTACKERS = 20_000
const WARM_UP = 100_000

/** The P5 suite: `p5.sshd`, `p5.journal.all` and `p5.kernel` (see the top of this file). */
export const patternsSuite: BenchSuite = {
  description: 'P5 log lines/s through the detection engine (shipped sshd patterns, 90% unrelated lines; kernel log)',
  name: 'patterns',
  async run(ctx) {
    const out: BenchResult[] = []
    const count = scaled(LINE_COUNT, ctx.scale, 10_000)
    const sshFiles = shippedPatternFiles(['openssh.patterns', 'openssh-accepted.patterns'])
    if (ctx.wants('p5.sshd')) {
      out.push(measure(ctx, 'p5.sshd', 'auth.log lines, 10% sshd, shipped sshd patterns', count,
        (chunk, size) => authLog(chunk, size).map((text) => ({source: '/var/log/auth.log', text})), {patterns: sshFiles}))
    }
    if (ctx.wants('p5.sshd.attack')) {
      const config = defaultConfig()
      out.push(measure(ctx, 'p5.sshd.attack', 'auth.log under attack, 100% sshd, level aggressive', count,
        (chunk, size) => authLog(chunk, size, 1).map((text) => ({source: '/var/log/auth.log', text})),
        {config: {...config, detect: {...config.detect, level: 'aggressive'}}, patterns: sshFiles}))
    }
    if (ctx.wants('p5.journal.all')) {
      out.push(measure(ctx, 'p5.journal.all', 'journal MESSAGEs, 10% sshd, all shipped patterns + kernel check', count,
        (chunk, size) => authLog(chunk, size).map((text) => ({source: 'journal', text: text.slice(text.indexOf(': ') + 2)})),
        {patterns: shippedPatternFiles()}))
    }
    if (ctx.wants('p5.kernel')) {
      out.push(measure(ctx, 'p5.kernel', 'kmsg netfilter LOG records, port policy', count, kernelLog, {}, null,
        'no P target (the ruleset logs at most 2 packets/s per address, 10,000/s in all); peers.md T7 asks ≥ 200,000 lines/s of log parsing'))
    }
    return out
  },
}

/**
 * Feeds `count` lines, made by `make(chunk, size)` in chunks outside the timed part, to a fresh engine
 * after a warm-up on another one.
 */
function measure(ctx: SuiteContext, id: string, what: string, count: number, make: (chunk: number, size: number) => LogLine[],
  options: Partial<DetectEngineOptions>, target: Target | null = P5_TARGET, note?: string): BenchResult {
  const config = options.config ?? defaultConfig()
  ctx.log(`${id}: ${formatInt(count)} lines`)
  const warm = new DetectEngine({...options, config})
  for (const line of make(1000, WARM_UP)) warm.handleLine(line)
  const engine = new DetectEngine({...options, config})
  let seconds = 0
  for (let chunk = 0, done = 0; done < count; chunk++) {
    const lines = make(chunk, Math.min(CHUNK, count - done))
    const started = performance.now()
    for (let i = 0; i < lines.length; i++) engine.handleLine(lines[i]!)
    seconds += secondsSince(started)
    done += lines.length
  }
  const heapMb = process.memoryUsage().heapUsed / 2 ** 20
  const s = engine.stats
  const tracked = engine.tracked()
  return result({
    count,
    id,
    notes: [
      `${formatInt(s.matches)} pattern matches, ${formatInt(s.packets)} packets → ${formatInt(s.bans)} bans, ${formatInt(s.allows)} allows, ` +
        `${formatInt(s.pending)} pending, ${formatInt(s.duplicates)} duplicates, ${formatInt(s.protected)} protected`,
      `${formatInt(tracked.counterKeys)} counter keys, ${formatInt(tracked.dedupKeys)} dedup keys; heap ${heapMb.toFixed(0)} MB after the run`,
      ...(note === undefined ? [] : [note]),
    ],
    seconds,
    target: target ?? undefined,
    what,
  })
}

/** A small deterministic PRNG, so every run measures the same lines. */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const USERS = ['root', 'admin', 'test', 'user', 'oracle', 'ubuntu', 'postgres', 'git', 'deploy', 'pi', 'support', 'guest']

/** Chunk `chunk` (`count` lines) of a busy auth.log: by default 90% unrelated, 10% sshd (about half of them evidence). */
function authLog(chunk: number, count: number, sshdShare = 0.1): string[] {
  const random = prng(5 + chunk)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  const attacker = (): string => {
    const i = Math.floor(random() * ATTACKERS)
    return i % 10 === 0 ? `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::${i % 7 + 1}` : `198.18.${(i >> 8) & 255}.${i & 255}`
  }
  const out = new Array<string>(count)
  let second = chunk * (CHUNK / 50)
  for (let i = 0; i < count; i++) {
    if (i % 50 === 0) second++
    const time = `May ${String(1 + Math.floor(second / 86_400)).padStart(2, ' ')} ${clock(second % 86_400)} web1`
    const pid = 1000 + Math.floor(random() * 60_000)
    const user = pick(USERS)
    const port = 1024 + Math.floor(random() * 64_000)
    if (random() >= sshdShare) {
      out[i] = `${time} ${pick(UNRELATED)(pid, user)}`
      continue
    }
    const ip = attacker()
    const sshd = `${time} sshd[${pid}]: `
    const r = random()
    if (r < 0.15) out[i] = `${sshd}Failed password for ${user} from ${ip} port ${port} ssh2`
    else if (r < 0.25) out[i] = `${sshd}Failed password for invalid user ${user} from ${ip} port ${port} ssh2`
    else if (r < 0.35) out[i] = `${sshd}Invalid user ${user} from ${ip} port ${port}`
    else if (r < 0.45) out[i] = `${sshd}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${user}`
    else if (r < 0.5) out[i] = `${sshd}Connection closed by invalid user ${user} ${ip} port ${port} [preauth]`
    else if (r < 0.52) out[i] = `${sshd}Accepted publickey for deploy from 198.51.100.${pid % 250} port ${port} ssh2: ED25519 SHA256:3q2Lr1x9Y0cQm4c8sQ7rV3l0Yb1ZkFf2mN6pQ8tW4uI`
    else if (r < 0.7) out[i] = `${sshd}Received disconnect from ${ip} port ${port}:11: Bye Bye [preauth]`
    else if (r < 0.8) out[i] = `${sshd}Disconnected from user deploy 198.51.100.${pid % 250} port ${port}`
    else if (r < 0.9) out[i] = `${sshd}pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)`
    else out[i] = `${sshd}Connection from ${ip} port ${port} on 198.51.100.1 port 22 rdomain ""`
  }
  return out
}

const UNRELATED: ReadonlyArray<(pid: number, user: string) => string> = [
  (pid) => `CRON[${pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`,
  (pid) => `CRON[${pid}]: pam_unix(cron:session): session closed for user root`,
  (pid) => `CRON[${pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)`,
  () => `sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl status nginx`,
  () => `sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)`,
  (pid) => `systemd-logind[${pid % 900}]: New session ${pid} of user deploy.`,
  (pid) => `systemd-logind[${pid % 900}]: Session ${pid} logged out. Waiting for processes to exit.`,
  (pid) => `systemd-logind[${pid % 900}]: Removed session ${pid}.`,
  (pid) => `systemd[${pid}]: pam_unix(systemd-user:session): session opened for user deploy(uid=1000) by (uid=0)`,
  (pid) => `polkitd[${pid % 900}]: Registered Authentication Agent for unix-process:${pid}:123456 (system bus name :1.${pid})`,
  (pid, user) => `su[${pid}]: (to ${user}) root on pts/1`,
  (pid) => `dbus-daemon[${pid % 900}]: [system] Successfully activated service 'org.freedesktop.hostname1'`,
]

function clock(sec: number): string {
  const h = Math.floor(sec / 3600)
  const m = Math.floor(sec / 60) % 60
  const s = sec % 60
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`
}

/** Chunk `chunk` (`count` records) of /dev/kmsg: netfilter LOG lines (closed-port probes, replies to ephemeral ports) and other kernel chatter. */
function kernelLog(chunk: number, count: number): LogLine[] {
  const random = prng(7 + chunk)
  const ports = [22, 23, 80, 443, 445, 3389, 5900, 8080, 1433, 2323, 5060, 52_000, 60_001, 33_434]
  const out = new Array<LogLine>(count)
  for (let j = 0; j < count; j++) {
    const i = chunk * CHUNK + j
    const seq = 100_000 + i
    const usec = 8_231_000_000 + i * 137
    if (i % 20 === 0) {
      out[j] = {source: 'kmsg', text: `6,${seq},${usec},-;audit: type=1400 audit(1714557600.123:${i}): apparmor="ALLOWED" operation="open" profile="snap" pid=812`}
      continue
    }
    const a = Math.floor(random() * 100_000)
    const src = `198.18.${(a >> 8) & 255}.${a & 255}`
    const dpt = ports[Math.floor(random() * ports.length)]!
    const proto = dpt === 5060 || dpt === 33_434 ? 'UDP' : 'TCP'
    out[j] = {source: 'kmsg', text: `6,${seq},${usec},-;diswall-log: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=${src} ` +
      `DST=198.51.100.1 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=${i & 65_535} DF PROTO=${proto} SPT=${1024 + (i % 60_000)} DPT=${dpt} ` +
      `WINDOW=64240 RES=0x00 SYN URGP=0`}
  }
  return out
}
