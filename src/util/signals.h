// util/signals.h — keeping SIGPIPE from killing the process.
//
// hiredis 0.14 writes with write(2): on a socket whose peer has gone, that
// raises SIGPIPE, whose default action ends the process. Every hiredis write
// happens on a thread of the library's own (event loop, cluster refresher,
// sentinel resolver, the sentinel client's first question), which blocks
// SIGPIPE for itself, so such a write just fails with EPIPE; on callers'
// threads the library sends with send(MSG_NOSIGNAL) itself (DirectPool).
#pragma once

#include <signal.h>

namespace multicache::util {

// For threads the library owns: call first thing in the thread.
inline void block_sigpipe_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace multicache::util
