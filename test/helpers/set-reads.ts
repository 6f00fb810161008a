import {DEFAULT_NAMES, nftBlock6Sets} from '../../src/lib/firewall/sets/index.js'

/** One program start as the recording runners of the tests keep it. */
export interface ProgramCall {
  program: string
  args: readonly string[]
}

const SIX = nftBlock6Sets(DEFAULT_NAMES)
/** The block sets of both backends (nftables keeps IPv6 bans in three sets, see nftBlock6Sets). */
const BLOCK_SETS = [DEFAULT_NAMES.block.v4, DEFAULT_NAMES.block.v6, SIX.host, ...SIX.net === undefined ? [] : [SIX.net]]

/**
 * Why a call reads a whole block set, or undefined. With 1M bans each of these costs from ~85 ms
 * (`ipset list -t`, which walks the set to count it) to minutes (nft 1.0.6 `get element`, which
 * fetches every set of the table with its elements, or `nft list set` of a block set).
 */
export function wholeSetRead(call: ProgramCall): string | undefined {
  const {args, program} = call
  if (program === 'ipset') {
    const verb = args.find((a) => !a.startsWith('-'))
    const listing = verb === 'save' || verb === 'list' || args.includes('-L') || args.includes('-S')
    if (!listing || args.includes('-n')) return undefined
    if (args.some((a) => BLOCK_SETS.includes(a))) return 'ipset listing of a block set'
    if (!args.some((a) => !a.startsWith('-') && a !== 'save' && a !== 'list')) return 'ipset listing of every set'
    return undefined
  }

  if (program === 'nft') {
    if (args.includes('get')) return 'nft get element (fetches every set of the table)'
    const i = args.indexOf('list')
    if (i >= 0 && !args.includes('-t')) {
      const what = args[i + 1]
      if (what === 'ruleset' || what === 'table' || what === 'sets') return `nft list ${what} with elements`
      if (what === 'set' && BLOCK_SETS.includes(args.at(-1)!)) return 'nft listing of a block set'
    }
  }

  return undefined
}

