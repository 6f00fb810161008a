// A node:test reporter that prints only the closing line: "tests: N passed, N failed, N skipped".
export default async function* summary(source) {
  let passed = 0
  let failed = 0
  let skipped = 0
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const {details, skip, todo} = event.data
    if (details?.type === 'suite') continue // count tests, not the describe() blocks around them
    if (skip || todo) skipped++
    else if (event.type === 'test:pass') passed++
    else failed++
  }
  yield `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`
}
