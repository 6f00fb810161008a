import {startNatsServer} from '../src/lib/lab/index.js'
import {connectBus} from '../src/lib/transport/index.js'
const nats = await startNatsServer({extraConfig: '\nmax_payload: 8192\nmax_pending: 65536\n'})
try {
const sub = await connectBus({name: 'sub', servers: nats.url, reconnect: true})
sub.onStatus((e) => console.log('status', e, performance.now().toFixed(0)))
let got = 0
sub.subscribe('x.>', () => { got++; const t = performance.now(); while (performance.now() - t < 0.05); })
await sub.flush()
const pub = await connectBus({name: 'pub', servers: nats.url, reconnect: false})
const payload = 'x'.repeat(100)
for (let i = 0; i < 20000; i++) { pub.publish('x.y', payload); if (i % 1000 === 0) { await pub.flush(); if (i % 5000 === 0) console.log('pub', i, got, performance.now().toFixed(0)) } }
await pub.flush()
console.log('published', performance.now().toFixed(0))
await new Promise((r) => setTimeout(r, 3000))
console.log('got', got)
await pub.close(); await sub.close();
} finally {
console.log(nats.log().slice(-1500))
await nats.stop()
}
