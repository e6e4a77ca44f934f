#include "support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace multicache::test {

namespace {

// Binds port (0: any) on loopback; returns the port bound, or 0.
int try_bind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A free port; with_bus: one below 55536 whose port + 10000 is free too.
int free_port(bool with_bus) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = try_bind(0);
    if (port == 0) break;
    if (!with_bus) return port;
    if (port < 55536 && try_bind(port + 10000) != 0) return port;
  }
  throw std::runtime_error("bind to a free port failed");
}

std::string redis_server_binary() {
  if (const char* env = std::getenv("MULTICACHE_REDIS_SERVER")) return env;
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (access(p, X_OK) == 0) return p;
  }
  throw std::runtime_error(
      "redis-server not found: install redis-server (scripts/install-deps.sh) or set "
      "MULTICACHE_REDIS_SERVER");
}

}  // namespace

double slowdown() {
  static const double factor = [] {
    const char* env = std::getenv("MULTICACHE_TEST_SLOWDOWN");
    const double f = env != nullptr ? std::atof(env) : 1.0;
    return f >= 1.0 ? f : 1.0;
  }();
  return factor;
}

std::string unique_prefix() {
  static std::atomic<int> n{0};
  return "test:" + std::to_string(getpid()) + ":" + std::to_string(n.fetch_add(1)) + ":";
}

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/multicache-redis-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed in " + tmpl);
  dir_ = tmpl;
  if (options_.unix_socket) socket_path_ = dir_ + "/redis.sock";
  // A port can be taken between probing and binding: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      port_ = free_port(options_.cluster);
      start();
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);  // no destructor runs for a throwing constructor
      throw;
    }
    if (wait_ready(std::chrono::seconds(5))) return;
    kill();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("redis-server did not start");
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::url(int db) const {
  std::string u = "redis://";
  if (!options_.password.empty()) u += ":" + options_.password + "@";
  u += "127.0.0.1:" + std::to_string(port_);
  if (db != 0) u += "/" + std::to_string(db);
  return u;
}

void RedisServer::start() {
  std::vector<std::string> args = {redis_server_binary(),
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--loglevel",
                                   "warning",
                                   "--logfile",
                                   dir_ + "/redis.log",
                                   "--enable-debug-command",
                                   "local"};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  if (!socket_path_.empty()) {
    args.push_back("--unixsocket");
    args.push_back(socket_path_);
  }
  if (options_.cluster) {
    for (std::string a : {"--cluster-enabled", "yes", "--cluster-config-file"}) args.push_back(a);
    args.push_back(dir_ + "/nodes.conf");
    args.push_back("--cluster-node-timeout");
    args.push_back(std::to_string(options_.cluster_node_timeout_ms));
  }
  if (options_.sentinel) {
    const std::string conf = dir_ + "/sentinel.conf";
    if (!std::filesystem::exists(conf)) {  // a restart keeps what the sentinel learnt
      std::ofstream(conf) << options_.sentinel_config;
    }
    args = {redis_server_binary(),
            conf,
            "--sentinel",
            "--port",
            std::to_string(port_),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir_,
            "--loglevel",
            "warning",
            "--logfile",
            dir_ + "/redis.log"};
  }
  for (const auto& a : options_.extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The server dies with the process that started it (a crashed test, a
  // multicache-bench killed by a second Ctrl-C): PR_SET_PDEATHSIG, which
  // fires when the forking *thread* ends, so only from the main thread.
  const pid_t parent = getpid();
  const bool main_thread = static_cast<long>(parent) == syscall(SYS_gettid);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    if (main_thread && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)) _exit(127);
    // Nothing on our stdout: an orphan would hold the pipe of whoever reads it.
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) dup2(null_fd, STDOUT_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  paused_ = false;
}

bool RedisServer::wait_ready(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited: port taken, or a bad flag
    }
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c != nullptr && c->err == 0) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      // With requirepass, PING answers NOAUTH: the server is up either way.
      const bool up = r != nullptr;
      if (r != nullptr) freeReplyObject(r);
      redisFree(c);
      if (up) return true;
    } else if (c != nullptr) {
      redisFree(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  if (paused_) ::kill(pid_, SIGCONT);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  paused_ = false;
}

void RedisServer::restart() {
  kill();
  start();
  if (!wait_ready(std::chrono::seconds(5))) throw std::runtime_error("redis-server restart failed");
}

void RedisServer::pause() {
  if (pid_ > 0 && !paused_) {
    ::kill(pid_, SIGSTOP);
    paused_ = true;
  }
}

void RedisServer::resume() {
  if (pid_ > 0 && paused_) {
    ::kill(pid_, SIGCONT);
    paused_ = false;
  }
}

std::string url_or_private_server(std::string given, std::unique_ptr<RedisServer>* holder) {
  if (!given.empty()) return given;
  *holder = std::make_unique<RedisServer>();
  return (*holder)->url();
}

RedisCli::RedisCli(const RedisServer& server, int db, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ctx_ = redisConnectWithTimeout("127.0.0.1", server.port(), tv);
  if (ctx_ == nullptr || ctx_->err != 0) throw std::runtime_error("RedisCli: connect failed");
  redisSetTimeout(ctx_, tv);
  const std::string url = server.url();
  if (auto at = url.find('@'); at != std::string::npos) {
    const std::string password = url.substr(9, at - 9);  // after "redis://:"
    cmd({"AUTH", password});
  }
  if (db != 0) cmd({"SELECT", std::to_string(db)});
}

RedisCli::~RedisCli() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

l2::Reply RedisCli::cmd(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) throw std::runtime_error(std::string("RedisCli: ") + ctx_->errstr);
  l2::Reply out = l2::Reply::from_hiredis(r);
  freeReplyObject(r);
  return out;
}

bool RedisCli::get(const std::string& key, std::string* out) {
  l2::Reply r = cmd({"GET", key});
  if (r.type != l2::Reply::kind::string) return false;
  *out = r.str;
  return true;
}

}  // namespace multicache::test
