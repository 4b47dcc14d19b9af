import NIOCore

/// Runs a connection's task on its channel's event loop (as a task executor preference): a
/// frame is read, handled and answered on the thread that owns the socket, with no hop to
/// the global executor and back. Plugin handlers therefore must not block (as on any NIO
/// event loop); they await instead.
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
