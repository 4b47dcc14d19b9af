// LD_PRELOAD shim for profiling Swift servers under valgrind 3.19 (profile.sh).
//
// An async `main` ends in libdispatch's dispatch_main(), which pthread_exits the main thread
// and parks it in sigsuspend() from a TSD destructor; valgrind 3.19 dies there with an
// internal SIGSEGV (also with --tool=none). Parking it in sleep() instead changes nothing
// for the program: the main thread only waits there for the process to end.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    // Like sigsuspend, take the caller's mask, so SIGTERM still reaches a process that
    // handles no signal itself.
    pthread_sigmask(SIG_SETMASK, mask, NULL);
    for (;;) sleep(3600);
    return -1;
}
