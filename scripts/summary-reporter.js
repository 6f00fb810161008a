// A node:test reporter that prints the closing line "tests: N passed, N failed, N skipped" (a skipped
// describe() group counts as one skipped test: its tests never run), then one line per skip:
// "skipped: NAME\tREASON", for scripts/test.js to check against CI's list of allowed skips.
export default async function* summary(source) {
  let passed = 0
  let failed = 0
  let skipped = 0
  const skips = []
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const {details, name, skip, todo} = event.data
    const isSuite = details?.type === 'suite'
    if (skip || todo) {
      skipped++
      skips.push(`skipped: ${name}\t${typeof skip === 'string' ? skip : typeof todo === 'string' ? todo : ''}`)
    } else if (isSuite) continue // count tests, not the describe() blocks around them
    else if (event.type === 'test:pass') passed++
    else failed++
  }
  yield `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n${skips.map((s) => `${s.replace(/\n/g, ' ')}\n`).join('')}`
}
