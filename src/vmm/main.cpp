// `softkvm`: the command-line front of softkvm.
//   softkvm run --flat FILE [--mode long|real] [--mem MiB] [--backend soft|host] [--verbose]
//   softkvm exec [--] CMD [ARGS...]
// See src/vmm/README.md for the machine model and the exit statuses.
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/backend.h"
#include "vmm/exit_status.h"
#include "vmm/io_bus.h"
#include "vmm/machine.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr const char* kPreloadName = "libsoftkvm-preload.so";
constexpr uint64_t kMinMemMiB = 1;
constexpr uint64_t kMaxMemMiB = 3072;  // stay below the TSS at 0xfffbd000 and the PCI hole

struct RunOptions {
  std::string flat;
  std::string mode = "long";
  uint64_t mem_mib = 64;
  std::string backend = "soft";
  bool verbose = false;
};

int fail(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "softkvm: %s\n", message.c_str());
  return kExitUsage;
}

std::vector<uint8_t> read_image(const std::string& path, uint64_t max_size, const RunOptions& o) {
  const std::string who = "--flat " + path + ": ";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw VmmError(who + "cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw VmmError(who + "not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    throw VmmError(who + "file is empty");
  }
  if (size > max_size) {
    ::close(fd);
    throw VmmError(who + std::to_string(size) + " bytes do not fit in guest memory (at most " +
                   std::to_string(max_size) + " bytes with --mode " + o.mode + " --mem " +
                   std::to_string(o.mem_mib) + ")");
  }
  std::vector<uint8_t> image(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, image.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      throw VmmError(who + "read error: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return image;
}

int run_command(const RunOptions& o) {
  GuestMode mode;
  if (o.mode == "long") {
    mode = GuestMode::kLong;
  } else if (o.mode == "real") {
    mode = GuestMode::kReal;
  } else {
    return fail("run: unknown --mode '" + o.mode + "' (expected long or real)");
  }
  const KvmBackend* backend = find_backend(o.backend);
  if (!backend) return fail("run: unknown --backend '" + o.backend + "' (expected soft or host)");
  if (o.mem_mib < kMinMemMiB || o.mem_mib > kMaxMemMiB) {
    return fail("run: --mem " + std::to_string(o.mem_mib) + " out of range (" +
                std::to_string(kMinMemMiB) + ".." + std::to_string(kMaxMemMiB) + " MiB)");
  }
  MachineConfig config;
  config.mode = mode;
  config.mem_bytes = o.mem_mib << 20;
  config.trace = o.verbose ? stderr : nullptr;
  try {
    const auto image = read_image(o.flat, max_image_size(mode, config.mem_bytes), o);
    Machine machine(*backend, config);
    machine.load(image);
    if (config.trace) {
      std::fprintf(config.trace, "softkvm: %zu bytes at %#llx, --mode %s, --mem %llu MiB, --backend %s\n",
                   image.size(), static_cast<unsigned long long>(load_address(mode)), o.mode.c_str(),
                   static_cast<unsigned long long>(o.mem_mib), backend->name);
    }
    IoBus io(stdout, config.trace);
    return machine.run(io);
  } catch (const VmmError& e) {
    return fail(std::string("run: ") + e.what());
  }
}

// The directory holding this executable (resolved through /proc/self/exe).
std::string self_directory() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  std::string s(path, static_cast<size_t>(n));
  const auto slash = s.rfind('/');
  return slash == std::string::npos ? std::string(".") : s.substr(0, slash);
}

#if defined(__SANITIZE_ADDRESS__)
// A sanitizer build of the shim needs the ASan runtime first in the preload
// list (ASan refuses to start otherwise); use the one this binary runs with.
int find_asan_runtime(struct dl_phdr_info* info, size_t, void* out) {
  const char* name = info->dlpi_name;
  if (name && std::strstr(name, "/libasan.so")) {
    *static_cast<std::string*>(out) = name;
    return 1;
  }
  return 0;
}
std::string sanitizer_runtime() {
  std::string path;
  dl_iterate_phdr(find_asan_runtime, &path);
  return path;
}
#else
std::string sanitizer_runtime() { return {}; }
#endif

int exec_command(std::vector<std::string> args) {
  if (!args.empty() && args.front() == "--") args.erase(args.begin());
  if (args.empty()) return fail("exec: missing command (usage: softkvm exec -- CMD [ARGS...])");
  const std::string dir = self_directory();
  if (dir.empty()) return fail(std::string("exec: cannot resolve /proc/self/exe: ") + std::strerror(errno));
  const std::string lib = dir + "/" + kPreloadName;
  if (access(lib.c_str(), R_OK) != 0) {
    return fail("exec: " + lib + ": " + std::strerror(errno) + " (the preload shim must sit next to softkvm)");
  }
  std::string preload = lib;
  if (const std::string runtime = sanitizer_runtime(); !runtime.empty()) preload = runtime + ":" + preload;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  const int err = errno;
  std::fprintf(stderr, "softkvm: exec: %s: %s\n", args.front().c_str(), std::strerror(err));
  return err == ENOENT ? 127 : 126;  // the shell's statuses for "not found" / "cannot execute"
}

constexpr const char* kExamples = R"(Examples:
  softkvm run --flat build/guests/demo.bin                 # long mode, soft backend
  softkvm run --flat build/guests/hello16.bin --mode real  # boot sector at 0x7c00
  softkvm run --flat guest.bin --backend host --verbose    # the host's /dev/kvm
  softkvm exec -- ./my-kvm-client --its-args               # any KVM client on softkvm
)";

constexpr const char* kRunFooter = R"(The guest sees: RAM from 0; COM1 (8250 UART, port 0x3f8) -> stdout;
isa-debug-exit at port 0xf4. Long mode: the image at 0x10000 with
identity paging (>= 1 GiB, 2 MiB pages), RSP at the top of RAM.
Real mode: the image at 0000:7c00.

Exit status: 0 the guest executed HLT; (v << 1) | 1 the guest wrote v to
port 0xf4 (QEMU's isa-debug-exit); 2 bad command line, file or backend;
4 the guest failed (shutdown, internal error, unexpected MMIO, KVM_RUN error).

Examples:
  softkvm run --flat build/guests/demo.bin
  softkvm run --flat build/guests/hello16.bin --mode real --backend host
  softkvm run --flat guest.bin --mem 256 --verbose
)";

}  // namespace
}  // namespace skvm::vmm

int main(int argc, char** argv) {
  using namespace skvm::vmm;
  // `exec` takes the rest of the command line verbatim (its options belong to
  // CMD), so it is dispatched before the parser; CLI11 only documents it.
  if (argc >= 2 && std::strcmp(argv[1], "exec") == 0 &&
      !(argc == 3 && (std::strcmp(argv[2], "--help") == 0 || std::strcmp(argv[2], "-h") == 0))) {
    return exec_command(std::vector<std::string>(argv + 2, argv + argc));
  }
  CLI::App app{"softkvm: the Linux KVM API served in user space", "softkvm"};
  app.set_version_flag("--version", std::string("softkvm 0.1.0 (libsoftkvm: ") + soft_library_version() + ")");
  app.require_subcommand(1);
  app.footer(kExamples);

  RunOptions run_options;
  CLI::App* run = app.add_subcommand("run", "Run a guest image on a KVM backend");
  run->add_option("--flat", run_options.flat, "Flat binary to load and run")->required()->type_name("FILE");
  run->add_option("--mode", run_options.mode, "CPU mode at entry: long or real")
      ->capture_default_str()->type_name("MODE");
  run->add_option("--mem", run_options.mem_mib, "Guest RAM in MiB (1..3072)")
      ->capture_default_str()->type_name("MiB");
  run->add_option("--backend", run_options.backend, "soft (libsoftkvm) or host (/dev/kvm)")
      ->capture_default_str()->type_name("NAME");
  run->add_flag("--verbose,-v", run_options.verbose, "Trace setup, unhandled port I/O and the exit to stderr");
  run->footer(kRunFooter);

  CLI::App* exec = app.add_subcommand(
      "exec", "Run CMD with LD_PRELOAD=libsoftkvm-preload.so: its /dev/kvm is softkvm");
  exec->footer("Usage: softkvm exec -- CMD [ARGS...]   (exit status: CMD's)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (run->parsed()) return run_command(run_options);
  return fail("exec: missing command (usage: softkvm exec -- CMD [ARGS...])");
}
