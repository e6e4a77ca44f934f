// util/thread_annotations.h — clang -Wthread-safety attributes; empty elsewhere.
#pragma once

#if defined(__clang__)
#define MC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MC_THREAD_ANNOTATION(x)
#endif

#define MC_CAPABILITY(x) MC_THREAD_ANNOTATION(capability(x))
#define MC_SCOPED_CAPABILITY MC_THREAD_ANNOTATION(scoped_lockable)
#define MC_GUARDED_BY(x) MC_THREAD_ANNOTATION(guarded_by(x))
#define MC_PT_GUARDED_BY(x) MC_THREAD_ANNOTATION(pt_guarded_by(x))
#define MC_REQUIRES(...) MC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define MC_REQUIRES_SHARED(...) MC_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define MC_ACQUIRE(...) MC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MC_ACQUIRE_SHARED(...) MC_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define MC_RELEASE(...) MC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define MC_RELEASE_SHARED(...) MC_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define MC_RELEASE_GENERIC(...) MC_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define MC_TRY_ACQUIRE(...) MC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define MC_EXCLUDES(...) MC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define MC_NO_THREAD_SAFETY_ANALYSIS MC_THREAD_ANNOTATION(no_thread_safety_analysis)
