import Glibc

/// A value behind a glibc adaptive mutex (`PTHREAD_MUTEX_ADAPTIVE_NP`): a thread that finds it taken spins a
/// little before it sleeps in the kernel. The broker's critical sections are a few microseconds; with the
/// default mutex the loser of a race slept and was woken (two system calls and two context switches).
final class SpinningLockedBox<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        let err = pthread_mutex_init(mutex, &attr)
        precondition(err == 0, "pthread_mutex_init: \(err)")
        pthread_mutexattr_destroy(&attr)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLockedValue<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
