import Synchronization

/// Runs `body`, throwing `timeoutError()` if it has not finished within `limit`. The body is
/// abandoned, not awaited: a pooled PostgreSQL request may wait for a connection far longer.
func withTimeLimit<T: Sendable>(
    _ limit: Duration,
    timeoutError: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = Race<T>()
    let work = Task {
        do {
            race.finish(.success(try await body()))
        } catch {
            race.finish(.failure(error))
        }
    }
    let timer = Task {
        try await Task.sleep(for: limit)
        race.finish(.failure(timeoutError()))
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        try await race.value()
    } onCancel: {
        work.cancel()
        race.finish(.failure(CancellationError()))
    }
}

/// The first of several outcomes, for one waiter.
private final class Race<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<T, any Error>?)>((nil, nil))

    func finish(_ result: Result<T, any Error>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let result = self.state.withLock { state -> Result<T, any Error>? in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
