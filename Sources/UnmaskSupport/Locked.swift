#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex, for state that several threads hand to one another.
///
/// Not `Synchronization.Mutex`: on Linux that lock waits on the futex system call directly,
/// which ThreadSanitizer cannot see, so every buffer passed from one thread to the next
/// through a `Mutex` is reported as a data race (189 reports in one run of the serving
/// tests; none with this lock). A pthread mutex is intercepted by TSan; the locks here are
/// taken a few times per matrix product or tensor read, far from any inner loop. The lock
/// lives and dies with this object, so a type that throws from `init` after making one
/// frees it too.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>  // (1), at a fixed address
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
