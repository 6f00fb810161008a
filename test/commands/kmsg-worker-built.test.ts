/**
 * The built kmsg source starts its reader thread from dist/ (kmsg-worker.js beside kmsg.js), without
 * tsx: the path the CLI takes. The unit tests cover the TypeScript sources under tsx.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {test} from 'node:test'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const BUILT = new URL('../../dist/lib/detect/sources/index.js', import.meta.url)

test('kmsg source (built) - the reader thread runs from dist/ and reports a missing device', async () => {
  assert.ok(existsSync(fileURLToPath(BUILT)), 'the build is missing: run npm run build first')
  assert.ok(existsSync(fileURLToPath(new URL('kmsg-worker.js', BUILT))), 'dist/lib/detect/sources/kmsg-worker.js is missing')
  const script = `import {KmsgSource} from ${JSON.stringify(BUILT.href)}
    const source = new KmsgSource({device: '/nonexistent/dw-kmsg'})
    try {
      for await (const _ of source.start()) console.log('unexpected line')
    } catch (error) {
      console.log(JSON.stringify({health: source.health().state, message: error.message, name: error.name}))
    }`
  // No --import tsx: plain node, as bin/run.js runs.
  const {stdout} = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {timeout: 15_000})
  assert.deepEqual(JSON.parse(stdout), {health: 'failed', message: '/nonexistent/dw-kmsg does not exist', name: 'LogSourceError'})
})
