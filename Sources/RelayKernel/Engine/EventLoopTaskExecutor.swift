import NIOCore

/// Runs tasks on one event loop (as a task executor preference): a plugin call that suspends
/// resumes on the thread that owns the connection's socket, with no hop to the global executor
/// and back. Plugin handlers therefore must not block (as on any NIO event loop); they await.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
