// CaffeineBench — Caffeine's hit throughput on l1_bench's workload, so the L1
// table can quote a ratio against a well-known concurrent cache from the same
// run (scripts/bench.sh runs it right after l1_bench).
//
// Workload (as bench/l1_bench.cc and bench/workload.h): 100k keys
// "user:profile:%07d", one 100-char String value, all held by a cache of
// maximumSize 200k (nothing is evicted); reads follow a 2^20-long Zipf(0.99)
// trace with ranks scattered over the keys by a seeded shuffle; thread t starts
// at t * 7919 and walks the trace. The RNG differs from C++'s mt19937_64, the
// distribution does not. Caffeine keeps its defaults (read buffers drained on
// ForkJoinPool.commonPool()).
//
// Cases: caffeine_get = cache.get(key, k -> VALUE), the get_or_load of a hit;
// caffeine_get_if_present = cache.getIfPresent(key); caffeine_get_ttl = get
// on a cache that also has expireAfterWrite(1 h), as every MultiCache entry
// has a TTL, probed with keys that are equal to, not the same objects as, the
// stored ones (so equals() compares the bytes, as the C++ side must; Java
// still caches each key's hashCode, which C++ recomputes), each key holding
// its own value object (in the plain case all share one String);
// caffeine_mixed_ttl = caffeine_get_ttl with every 20th operation a put() of a
// copy of the value instead (l1_bench's mixed rows: issue 7's 95% reads). Each runs at 1 and 2
// threads: a warm-up (JIT) of WARMUP seconds, then SECONDS of wall time;
// items_per_second is total ops across threads / wall time.
//
// Needs Java 11+ and the Caffeine jar (Debian: default-jre-headless
// libcaffeine-java, 2.6.2). No build step:
//   java -cp /usr/share/java/caffeine.jar bench/caffeine/CaffeineBench.java [SECONDS [WARMUP]]
// SECONDS defaults to 3 (a trailing "s" is accepted, as in --benchmark_min_time),
// WARMUP to 2. Output, one line per case:
//   caffeine_get threads=1 items_per_second=5.31e+06
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

public class CaffeineBench {
  static final int KEYS = 100_000;
  static final int TRACE = 1 << 20;
  static final String VALUE = "v".repeat(100);
  static final Function<String, String> LOADER = k -> VALUE;  // never called: every read hits

  static String[] keys;
  static String[] keys_stored;  // the cache's own key objects
  static String[] keys_equal;   // equal copies, for caffeine_get_ttl
  static int[] trace;
  static volatile boolean stop;
  static volatile long sink;  // keeps the reads from being optimized away

  // `length` indices in [0, n) drawn from Zipf(s), like workload.h's zipf_trace:
  // CDF + binary search, ranks mapped through a seeded shuffle of the keys.
  static int[] zipfTrace(int n, double s, int length, long seed) {
    double[] cdf = new double[n];
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf[i] = sum += 1.0 / Math.pow(i + 1, s);
    SplittableRandom rng = new SplittableRandom(seed);
    int[] perm = new int[n];
    for (int i = 0; i < n; ++i) perm[i] = i;
    for (int i = n - 1; i > 0; --i) {  // Fisher-Yates
      int j = rng.nextInt(i + 1), t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    int[] out = new int[length];
    for (int i = 0; i < length; ++i) {
      int r = Arrays.binarySearch(cdf, rng.nextDouble() * sum);
      out[i] = perm[Math.min(r >= 0 ? r : -r - 1, n - 1)];  // lower_bound
    }
    return out;
  }

  // One thread's loop, as l1_bench's run(): start at thread * 7919, walk the
  // trace. mixed: as l1_bench's run_mixed(), every 20th operation puts a copy
  // of the value under the key it drew instead of reading it.
  static long work(int thread, boolean ifPresent, boolean mixed, Cache<String, String> cache) {
    int i = thread * 7919;
    long ops = 0, acc = 0;
    while (!stop) {
      for (int n = 0; n < 1024; ++n, ++i) {  // check the flag once per 1024 operations
        String k = keys[trace[i & (TRACE - 1)]];
        if (mixed && i % 20 == 0) {
          cache.put(k, new String(VALUE.toCharArray()));
          continue;
        }
        String v = ifPresent ? cache.getIfPresent(k) : cache.get(k, LOADER);
        acc += v.length();
      }
      ops += 1024;
    }
    sink += acc;
    return ops;
  }

  // Runs `threads` threads for `seconds` of wall time; returns total ops/s.
  static double measure(int threads, boolean ifPresent, boolean mixed,
      Cache<String, String> cache, double seconds) throws Exception {
    long[] ops = new long[threads];
    Thread[] ts = new Thread[threads];
    stop = false;
    for (int t = 0; t < threads; ++t) {
      final int id = t;
      ts[t] = new Thread(() -> ops[id] = work(id, ifPresent, mixed, cache));
    }
    long start = System.nanoTime();
    for (Thread t : ts) t.start();
    Thread.sleep((long) (seconds * 1000));
    stop = true;
    for (Thread t : ts) t.join();
    double wall = (System.nanoTime() - start) / 1e9;
    return Arrays.stream(ops).sum() / wall;
  }

  public static void main(String[] args) throws Exception {
    double seconds = args.length > 0 ? Double.parseDouble(args[0].replaceAll("s$", "")) : 3;
    double warmup = args.length > 1 ? Double.parseDouble(args[1]) : 2;
    keys_stored = new String[KEYS];
    keys_equal = new String[KEYS];
    for (int i = 0; i < KEYS; ++i) {
      keys_stored[i] = String.format("user:profile:%07d", i);
      keys_equal[i] = new String(keys_stored[i]);
    }
    trace = zipfTrace(KEYS, 0.99, TRACE, 42);
    Cache<String, String> plain = Caffeine.newBuilder().maximumSize(2 * KEYS).build();
    Cache<String, String> ttl =
        Caffeine.newBuilder().maximumSize(2 * KEYS).expireAfterWrite(1, TimeUnit.HOURS).build();
    for (String k : keys_stored) {
      plain.put(k, VALUE);
      ttl.put(k, new String(VALUE.toCharArray()));  // its own value, as each C++ entry has
    }

    String[] names = {
        "caffeine_get", "caffeine_get_if_present", "caffeine_get_ttl", "caffeine_mixed_ttl"};
    for (String name : names) {
      boolean ifPresent = name.equals("caffeine_get_if_present");
      boolean mixed = name.equals("caffeine_mixed_ttl");
      boolean withTtl = name.endsWith("_ttl");
      Cache<String, String> cache = withTtl ? ttl : plain;
      keys = withTtl ? keys_equal : keys_stored;
      for (int threads = 1; threads <= 2; ++threads) {
        measure(threads, ifPresent, mixed, cache, warmup);
        double rate = measure(threads, ifPresent, mixed, cache, seconds);
        System.out.printf("%s threads=%d items_per_second=%.3e%n", name, threads, rate);
      }
    }
  }
}
