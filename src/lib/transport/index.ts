/** The transport side: the port a transport offers (wire terms) and an in-memory transport for tests. */
export {FakeTransport} from './fake.js'
export type {Published} from './fake.js'
export type {Transport, TransportEvent, TransportSink, WireEntry, WireList} from './port.js'
