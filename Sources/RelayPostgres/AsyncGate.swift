import DequeModule
import Synchronization

/// Lets one task at a time through, the others waiting in turn (no thread blocks).
final class AsyncGate: Sendable {
    private let state = Mutex<(held: Bool, waiting: Deque<CheckedContinuation<Void, Never>>)>((false, []))

    /// Runs `body` once no other task is inside the gate.
    func pass<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await self.enter()
        defer { self.leave() }
        return try await body()
    }

    private func enter() async {
        await withCheckedContinuation { continuation in
            let now = self.state.withLock { state -> Bool in
                guard state.held else {
                    state.held = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func leave() {
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let next = state.waiting.popFirst() else {
                state.held = false
                return nil
            }
            return next
        }
        next?.resume()
    }
}
