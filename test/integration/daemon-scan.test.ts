/**
 * A wide scan against `diswall daemon` (the built CLI): 2,000 distinct source addresses each send one
 * TCP SYN to a closed port within one second, and every one of them is banned. The victim's ruleset
 * (`firewall apply`) logs what nothing allowed with the `log` template, limited per source address, and
 * drops it; the daemon reads the log from /dev/kmsg or NFLOG, with the ipset or the nftables backend.
 * The time from the last SYN to the last ban is printed; timing targets are in the bench (P10).
 * Every firewall program runs inside the victim namespace only.
 */
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'

import {cleanupAll, connectNetns, createNetns, enableNetnsLogging, makeTempDir, scanLabDaemon, uniqueLogPrefix} from '../../src/lib/lab/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'nft', 'tcpdump']})

const VICTIM = '198.51.100.1'
const LINK_ATTACKER = '198.51.100.2'
const SOURCES = 2000
/** The SYNs are spread over half a second: Node needs ~0.5 ms per connect on a busy machine, so they all go within the second. */
const SCAN_MS = 500
const CLOSED_PORT = 23
/** Generous: the bench's target (P10) is 2 s after the scan. */
const BANNED_WITHIN_MS = 30_000

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  for (const source of ['kmsg', 'nflog'] as const) {
    describe(`diswall daemon - a scan from ${SOURCES} addresses (${backend}, ${source})`, {skip, timeout: 240_000}, () => {
      it(`daemon (${backend}, ${source}) - ${SOURCES} sources each sending one SYN within one second are all banned`, async () => {
        await enableNetnsLogging()
        const victim = await createNetns()
        const attacker = await createNetns()
        const temp = makeTempDir('diswall-scan-it-')
        try {
          const link = await connectNetns(victim, attacker, {ipv4: [VICTIM, LINK_ATTACKER]})
          const run = await scanLabDaemon({
            attacker, backend, cli: [CLI], count: SOURCES, countLost: true, dir: temp.path, giveUpMs: BANNED_WITHIN_MS, link,
            logPrefix: uniqueLogPrefix('scan'), port: CLOSED_PORT, source, spreadMs: SCAN_MS, victim,
          })
          const {scan} = run
          assert.equal(scan.sent, SOURCES)
          console.log(`# ${backend}/${source}: ${SOURCES} SYNs over ${scan.lastMs - scan.firstMs} ms; ${run.banned} banned, the last ${
            run.doneMs - scan.lastMs} ms after the last SYN (polled every ~50 ms); log records lost: ${run.lost ?? 'not reported'}`)
          assert.deepEqual(run.missing.slice(0, 10), [], `${run.missing.length} of ${SOURCES} sources not banned within ${
            BANNED_WITHIN_MS / 1000} s of the scan; daemon output:\n${run.output}`)
          assert.deepEqual(run.others, [], 'nothing but the scan sources is banned')
        } finally {
          await victim.remove()
          await attacker.remove()
          temp.remove()
        }
      })
    })
  }
}
