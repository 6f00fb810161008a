import {Args, Flags} from '@oclif/core'

import {DiswallCommand} from '../../base-command.js'
import {PATTERN_LEVELS, runPatternTest} from '../../lib/detect/index.js'
import type {PatternTestResult} from '../../lib/detect/index.js'

export default class PatternsTest extends DiswallCommand<PatternTestResult> {
  static override args = {
    // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is given.
    files: Args.string({description: 'Pattern files to run; the shipped ones when none is given.', ignoreStdin: true, required: false}),
  }
  static override description = 'Runs pattern files over a log file, standard input or a journal export (`journalctl -o json`) '
    + 'through the detection engine of the daemon, offline: no root, no kernel, no daemon. Shows per regex how many lines it '
    + 'matched, the addresses that would be banned at the thresholds, and samples of lines that matched nothing. With --json, '
    + 'every matching input line is listed as {line, address, file, regexLine, level, action, outcome}. A pattern file that does '
    + 'not parse exits 3 with FILE:LINE; a file that cannot be read exits 2.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --log /var/log/auth.log',
    'journalctl -u ssh -o json | <%= config.bin %> <%= command.id %> --level aggressive',
    '<%= config.bin %> <%= command.id %> ./my.patterns --log ./sample.log --json',
  ]
  static override flags = {
    level: Flags.string({default: 'normal', description: 'Which regexes run, as [detect] level.', options: [...PATTERN_LEVELS]}),
    log: Flags.string({char: 'l', default: '-', description: 'The log to read; "-" for standard input.'}),
  }
  static override strict = false // several pattern files
  static override summary = 'Test pattern files against a log (the fail2ban-regex of diswall).'

  async run(): Promise<PatternTestResult> {
    const {argv, flags} = await this.parse(PatternsTest)
    const result = await runPatternTest({
      level: flags.level as PatternTestResult['level'],
      log: flags.log,
      patternFiles: argv as string[],
    })
    if (this.jsonEnabled()) return result
    this.log(`${result.lines} lines, ${result.matched} matched (level ${result.level})`)
    for (const file of result.files) {
      this.log(`\n${file.path} (${file.action}, threshold ${file.threshold} in ${file.windowSec} s)`)
      for (const r of file.regexes) {
        const flagsText = [r.level === 'aggressive' ? 'aggressive' : '', r.pid ? 'pid' : '', r.kind === 'count' ? '' : r.kind].filter(Boolean).join(', ')
        this.log(`  ${String(r.matches).padStart(7)}  line ${r.line}${flagsText === '' ? '' : ` [${flagsText}]`}${r.active ? '' : ' (not run at this level)'}`)
      }
    }
    this.log(`\nwould ban ${result.bans.length}:`)
    for (const b of result.bans) this.log(`  ${b.target.padEnd(40)} ${b.reason} (input line ${b.line})`)
    if (result.allows.length > 0) {
      this.log(`would allow ${result.allows.length} (with auto_allow_from_logs):`)
      for (const a of result.allows) this.log(`  ${a.address.padEnd(40)} (input line ${a.line})`)
    }
    if (result.unmatchedSamples.length > 0) {
      this.log(`\nlines nothing matched (first ${result.unmatchedSamples.length}):`)
      for (const u of result.unmatchedSamples) this.log(`  ${u.line}: ${u.text.slice(0, 200)}`)
    }
    return result
  }
}
