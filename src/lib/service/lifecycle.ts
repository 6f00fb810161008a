/**
 * The life cycle of a long-running command under systemd: start, run until SIGTERM or SIGINT (Ctrl-C),
 * stop; SIGHUP reloads when the service can reload. `diswall daemon` and `firewall watch` run through it.
 * One-shot commands that must undo their work when stopped use abortOnStopSignals().
 */
import {InterruptedError} from '../errors.js'


/** The signals runService() handles, and what each one does. */
export type SignalAction = 'reload' | 'stop'

/** Where signals come from: `process`, or an EventEmitter in tests. Listeners get the signal's name. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
}

/** What runService() drives. */
export interface ServiceLifecycle {
  /** Brings the service up; a rejection ends runService() with it (stop() is not called). */
  start(): Promise<void>
  /** Takes the service down, once, after start() resolved and a stop signal came. */
  stop(): Promise<void>
  /**
   * Called on SIGHUP, also while start() or stop() runs; without it SIGHUP is not handled (its default
   * action ends the process). It reports its own failures: a rejection is a bug, so the service is
   * stopped and runService() rejects with it.
   */
  reload?(): Promise<unknown>
  /** Told about each signal before it is acted on (to log it). */
  onSignal?(signal: NodeJS.Signals, action: SignalAction): void
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const

/**
 * Runs `work` with an AbortSignal that aborts, with an InterruptedError as its reason, on the first
 * SIGTERM or SIGINT: for one-shot commands that must undo what they started (`firewall apply` rolls
 * back) instead of dying half-way. Further stop signals are ignored until `work` settles: the undo is
 * the one thing that must finish. The listeners are removed when `work` settles; resolves or rejects
 * as `work` does.
 */
export async function abortOnStopSignals<T>(work: (signal: AbortSignal) => Promise<T>, signals: SignalSource = process): Promise<T> {
  const controller = new AbortController()
  const onStop = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) controller.abort(new InterruptedError(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM'))
  }
  // `on`, not `once`: execa's exit hook re-raises a signal that no other listener handles (see runService).
  for (const signal of STOP_SIGNALS) signals.on(signal, onStop)
  try {
    return await work(controller.signal)
  } finally {
    for (const signal of STOP_SIGNALS) signals.off(signal, onStop)
  }
}

/**
 * Runs `service`: starts it, waits for SIGTERM or SIGINT, stops it; SIGHUP calls reload(). The listeners
 * are installed before start(), so a stop signal during the start stops the service as soon as it is up,
 * and are all removed when runService() settles. Resolves once stop() has resolved; rejects with the
 * error of start(), stop() or a failed reload().
 */
export async function runService(service: ServiceLifecycle, signals: SignalSource = process): Promise<void> {
  let requestStop!: () => void
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve))
  let reloadFailure: {error: unknown} | undefined

  const onStop = (signal: NodeJS.Signals): void => {
    service.onSignal?.(signal, 'stop')
    requestStop()
  }
  const onReload = (signal: NodeJS.Signals): void => {
    service.onSignal?.(signal, 'reload')
    // Promise.resolve().then(): a reload that throws synchronously is caught the same way as one that rejects.
    Promise.resolve().then(() => service.reload?.()).catch((error: unknown) => {
      reloadFailure ??= {error}
      requestStop()
    })
  }

  // `on`, not `once`, and removed only at the end: execa's exit hook (for the ipset coprocess)
  // re-raises a signal that no other listener handles, which would kill the service mid-stop.
  const reloads = service.reload !== undefined
  for (const signal of STOP_SIGNALS) signals.on(signal, onStop)
  if (reloads) signals.on('SIGHUP', onReload)
  try {
    await service.start()
    await stopRequested
    await service.stop()
    if (reloadFailure) throw reloadFailure.error
  } finally {
    for (const signal of STOP_SIGNALS) signals.off(signal, onStop)
    if (reloads) signals.off('SIGHUP', onReload)
  }
}
