import CCPUFeatures
import Dispatch
import Synchronization
import UnmaskSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Persistent worker threads for the multi-threaded GEMM (and any other fork-join loop).
//
// Why not DispatchQueue.concurrentPerform: on Linux each call hands the work to
// libdispatch's pool, whose idle threads sleep in the kernel; waking one costs tens of
// microseconds and a futex round trip per call. A [128, 256] x [256, 768] product takes
// ~250 us on two cores, and a forward pass makes dozens of them, so that latency alone
// kept the 2-thread GEMM at the 1-thread speed on the model's shapes (measured: 100 vs
// 139 GFLOP/s for OpenBLAS, whose threads spin). Here a worker spins on a generation
// counter for a while after each job (PAUSE in the loop), then sleeps on a condition
// variable, so back-to-back GEMMs start in well under a microsecond and an idle process
// burns no CPU.
//
// Protocol for one job (`run`):
//   caller: publish body + part count, reset the part counter, bump `generation` (release),
//           wake sleepers, claim parts itself, then wait until every worker has checked in;
//   worker: see the new generation (acquire), claim parts until none are left, check in.
// Because the caller waits for all workers, no worker can still be reading a finished job
// when the next one is published. Which thread runs which part varies, but each part is a
// fixed piece of work, so results never depend on it.
//
// Spinning assumes each thread has a core. When the machine is busier than that, a
// spinning thread yields its core (sched_yield) after a short spin, so a descheduled peer
// can run; without that, a 2-thread forward pass with one core busy took 127 ms instead
// of 27 ms.
//
// One job at a time: a call that finds the pool busy (another thread's job, or a nested
// call from inside a part) runs through concurrentPerform instead of waiting.

public final class WorkerPool: @unchecked Sendable {
    /// The pool the kernels use. Workers are created on first use, one fewer than the
    /// largest thread count asked for (the caller is the other thread).
    public static let shared = WorkerPool()

    /// How long a worker spins (with PAUSE) after its last job before it sleeps: longer than
    /// the gap between the matrix products of a forward or backward pass, short enough that
    /// a benchmark can let the workers fall asleep before timing something else.
    public static let spinSeconds = 0.002

    private let generation = Atomic<Int>(0)
    private let nextPart = Atomic<Int>(0)
    private let checkedIn = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var job: ((Int) -> Void)?   // written only by the caller holding `busy`
    private var parts = 0
    private var workerCount = 0         // changed only by the caller holding `busy`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private var sleepers = 0            // guarded by mutex

    private init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    /// Runs body(part) for every part in 0..<parts, on up to `parts` threads (the caller
    /// and parts − 1 workers), and returns when all are done.
    public func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            if parts == 1 { body(0) }
            return
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            withoutActuallyEscaping(body) { body in DispatchQueue.concurrentPerform(iterations: parts, execute: body) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        growWorkers(to: parts - 1)
        withoutActuallyEscaping(body) { body in
            job = body
            self.parts = parts
            nextPart.store(0, ordering: .relaxed)
            checkedIn.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .releasing)
            pthread_mutex_lock(mutex)
            if sleepers > 0 { pthread_cond_broadcast(wake) }
            pthread_mutex_unlock(mutex)
            claimParts(body, parts)
            var spins = 0
            while checkedIn.load(ordering: .acquiring) < workerCount {
                // A worker that is not running (more runnable threads than cores) would keep
                // us spinning for a whole scheduler time slice: after a short spin, give the
                // core away instead, which lets that worker run here.
                spins += 1
                if spins < 4096 { unmask_cpu_relax() } else { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits 0..<count into min(threads, count) contiguous ranges, one per part, and runs
    /// body(part, range) for each on the pool. The ranges depend only on count and the part
    /// count, so work whose iterations write disjoint memory gives the same result for any
    /// thread count; `part` lets each thread use its own scratch buffer.
    public func forEachRange(_ count: Int, threads: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        let t = min(threads, count)
        if t <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        run(parts: t) { part in body(part, (count * part / t)..<(count * (part + 1) / t)) }
    }

    @inline(__always)
    private func claimParts(_ body: (Int) -> Void, _ parts: Int) {
        while true {
            let part = nextPart.wrappingAdd(1, ordering: .relaxed).oldValue
            if part >= parts { return }
            body(part)
        }
    }

    private func growWorkers(to count: Int) {
        while workerCount < count {
            // The new worker starts from the current generation, so it cannot miss the job
            // about to be published nor mistake an old one for it.
            let start = WorkerStart(pool: self, seen: generation.load(ordering: .acquiring))
            var thread = pthread_t()
            let context = Unmanaged.passRetained(start).toOpaque()
            let rc = pthread_create(&thread, nil, { context in
                let start = Unmanaged<WorkerStart>.fromOpaque(context!).takeRetainedValue()
                start.pool.workerLoop(seen: start.seen)
                return nil
            }, context)
            if rc != 0 {
                Unmanaged<WorkerStart>.fromOpaque(context).release()
                return  // no more threads: the jobs still complete, with fewer hands
            }
            pthread_detach(thread)
            workerCount += 1
        }
    }

    private func workerLoop(seen initial: Int) {
        var seen = initial
        while true {
            var spins = 0
            var spinUntil = 0.0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                // The clock is read every 64 spins only: it is a vDSO call, not free.
                if spins & 63 != 0 { unmask_cpu_relax(); continue }
                let now = monotonicSeconds()
                if spins == 64 { spinUntil = now + WorkerPool.spinSeconds }
                if now < spinUntil {
                    // Past the first ~50 us, let any other runnable thread have this core
                    // (e.g. the caller's own thread, when the machine is oversubscribed).
                    if spins > 64 * 64 { sched_yield() }
                    continue
                }
                pthread_mutex_lock(mutex)
                sleepers += 1
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                sleepers -= 1
                pthread_mutex_unlock(mutex)
            }
            seen += 1
            if let body = job { claimParts(body, parts) }
            checkedIn.wrappingAdd(1, ordering: .releasing)
        }
    }
}

private final class WorkerStart {
    let pool: WorkerPool
    let seen: Int
    init(pool: WorkerPool, seen: Int) {
        self.pool = pool
        self.seen = seen
    }
}
