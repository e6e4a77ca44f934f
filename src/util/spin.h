// util/spin.h — bounded busy-waiting for locks whose holders leave within
// a microsecond or so, before the caller falls back to sleeping.
//
// Stateless; safe from any thread.
#pragma once

namespace multicache::util {

// Tells the CPU this is a spin loop (x86 PAUSE, ARM YIELD): saves power and
// lets a sibling hyperthread run.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

// Calls done() until it returns true, at most rounds + 1 times with a
// cpu_relax() between calls (128 rounds: about 1-5 µs, by the CPU's PAUSE);
// whether it did.
template <class Done>
bool spin_until(Done&& done, int rounds = 128) {
  for (int i = 0; i < rounds; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  return done();
}

}  // namespace multicache::util
