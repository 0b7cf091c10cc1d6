// `softkvm`: the command-line front of softkvm.
//   softkvm run -k KERNEL [-i INITRD] [-p PARAMS] [-m MiB] [-c CPUS] [--backend soft|host] ...
//   softkvm run --flat FILE [--mode long|real] [--mem MiB] [--backend soft|host] [--verbose]
//   softkvm exec [--] CMD [ARGS...]
// See src/vmm/README.md and docs/vmm.md for the machine model and the exit statuses.
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "vmm/backend.h"
#include "vmm/console.h"
#include "vmm/exit_status.h"
#include "vmm/firmware_tables.h"
#include "vmm/io_bus.h"
#include "vmm/linux_loader.h"
#include "vmm/machine.h"
#include "vmm/multiboot.h"
#include "vmm/x86_setup.h"

namespace skvm::vmm {
namespace {

constexpr const char* kPreloadName = "libsoftkvm-preload.so";
constexpr uint64_t kMinMemMiB = 1;
constexpr uint64_t kMaxMemMiB = 3072;  // stay below the TSS at 0xfffbd000 and the PCI hole
constexpr uint64_t kDefaultKernelMemMiB = 256;
constexpr uint32_t kMaxCpus = 32;
constexpr uint64_t kVirtioBlkBase = 0xd0000000;  // in the PCI hole, above the 3 GiB RAM limit
constexpr uint32_t kVirtioBlkGsi = 5;      // the MP table must fit in the 1 KiB EBDA
constexpr uint64_t kVirtioConsoleBase = kVirtioBlkBase + VirtioMmioDevice::kWindowSize;
constexpr uint32_t kVirtioConsoleGsi = 6;  // ISA IRQ 6 (no floppy controller here)
#define SKVM_COMMON_PARAMS "reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
constexpr const char* kDefaultParams = "console=ttyS0 earlyprintk=ttyS0 " SKVM_COMMON_PARAMS;
// --console virtio: hvc0 is the console. Debian's virtio_console is a module,
// so hvc0 only exists once the initramfs loads it, and the kernel does not
// replay earlier messages on it: the early boot console stays on ttyS0
// (also on stdout) until hvc0 registers, which disables it ("bootconsole
// [earlyser0] disabled"): one continuous log, nothing printed twice.
constexpr const char* kVirtioConsoleParams = "console=hvc0 earlyprintk=ttyS0 " SKVM_COMMON_PARAMS;

struct RunOptions {
  std::string flat;
  std::string mode = "long";
  std::string kernel;
  std::string initrd;
  std::string params;
  std::string disk;
  std::string entry = "64";
  uint64_t mem_mib = 0;
  bool mem_given = false;  // else the default of the mode
  uint32_t cpus = 1;
  int reset_status = kExitGuestReset;
  std::string backend = "soft";
  std::string console = "serial";
  std::string guest_profile;  // System.map
  bool verbose = false;
  bool stats = false;
};

int fail(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "softkvm: %s\n", message.c_str());
  return kExitUsage;
}

// Reads a whole regular file; `flag` names the option in messages ("--flat").
std::vector<uint8_t> read_file(const std::string& flag, const std::string& path, uint64_t max_size,
                               const std::string& too_big_hint) {
  const std::string who = flag + " " + path + ": ";
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
                   std::to_string(max_size) + " bytes" + too_big_hint + ")");
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

void trace_stage(std::FILE* trace, const char* what) {
  if (!trace) return;
  static const auto start = std::chrono::steady_clock::now();
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(trace, "softkvm: [stage %8.3f s] %s\n", t, what);
}

int run_flat(const RunOptions& o, const KvmBackend& backend) {
  GuestMode mode;
  if (o.mode == "long") {
    mode = GuestMode::kLong;
  } else if (o.mode == "real") {
    mode = GuestMode::kReal;
  } else {
    return fail("run: unknown --mode '" + o.mode + "' (expected long or real)");
  }
  MachineConfig config;
  config.mem_bytes = o.mem_mib << 20;
  config.trace = o.verbose ? stderr : nullptr;
  config.stats = o.stats;
  const auto image = read_file("--flat", o.flat, max_image_size(mode, config.mem_bytes),
                               " with --mode " + o.mode + " --mem " + std::to_string(o.mem_mib));
  Machine machine(backend, config);
  machine.load_flat(image, mode);
  if (config.trace) {
    std::fprintf(config.trace, "softkvm: %zu bytes at %#llx, --mode %s, --mem %llu MiB, --backend %s\n",
                 image.size(), static_cast<unsigned long long>(load_address(mode)), o.mode.c_str(),
                 static_cast<unsigned long long>(o.mem_mib), backend.name);
  }
  IoBus io(stdout, config.trace);
  return machine.run(io);
}

// --guest-profile MAP: the symbol map, read whole (a System.map is ~5 MB).
SymbolMap load_symbol_map(const std::string& path) {
  const auto bytes = read_file("--guest-profile", path, 1ull << 30, "");
  SymbolMap map = SymbolMap::parse(std::string(bytes.begin(), bytes.end()));
  if (map.size() == 0) throw VmmError("--guest-profile " + path + ": no text symbols (expected System.map lines)");
  return map;
}

int run_kernel(const RunOptions& o, const KvmBackend& backend) {
  MachineConfig config;
  SymbolMap profile_map;
  if (!o.guest_profile.empty()) {
    profile_map = load_symbol_map(o.guest_profile);
    config.profile_map = &profile_map;
  }
  config.mem_bytes = o.mem_mib << 20;
  config.cpus = o.cpus;
  config.want_irqchip = true;
  config.kernel_mode = true;
  config.stats = o.stats;
  config.trace = o.verbose ? stderr : nullptr;
  std::FILE* trace = config.trace;
  const std::string ram_hint = " with -m " + std::to_string(o.mem_mib);
  const auto kernel = read_file("-k", o.kernel, config.mem_bytes, ram_hint);
  const KernelFormat format = detect_kernel_format(kernel);
  if (format == KernelFormat::kUnknown) {
    throw VmmError("-k " + o.kernel + ": not a kernel (no bzImage header, no Multiboot header, not an x86-64 ELF)");
  }
  std::vector<uint8_t> initrd;
  if (!o.initrd.empty()) initrd = read_file("-i", o.initrd, config.mem_bytes, ram_hint);
  // --disk: a virtio-blk device on virtio-mmio, read-write when the file allows it.
  int disk_fd = -1;
  uint64_t disk_size = 0;
  bool disk_read_only = false;
  if (!o.disk.empty()) {
    disk_fd = ::open(o.disk.c_str(), O_RDWR | O_CLOEXEC);
    if (disk_fd < 0 && (errno == EACCES || errno == EROFS)) {
      disk_fd = ::open(o.disk.c_str(), O_RDONLY | O_CLOEXEC);
      disk_read_only = true;
    }
    if (disk_fd < 0) throw VmmError("--disk " + o.disk + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(disk_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 512) {
      ::close(disk_fd);
      throw VmmError("--disk " + o.disk + ": not a regular file of at least 512 bytes");
    }
    disk_size = static_cast<uint64_t>(st.st_size);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() {
      if (fd >= 0) ::close(fd);
    }
  } disk_closer{disk_fd};

  Machine machine(backend, config);
  const GuestMemory mem = machine.memory();
  FirmwareConfig firmware;
  firmware.cpus = o.cpus;
  const bool virtio_console = o.console == "virtio";
  if (disk_fd >= 0) firmware.virtio.push_back({kVirtioBlkBase, VirtioMmioDevice::kWindowSize, kVirtioBlkGsi});
  if (virtio_console) {
    firmware.virtio.push_back({kVirtioConsoleBase, VirtioMmioDevice::kWindowSize, kVirtioConsoleGsi});
  }
  const AcpiLayout acpi = write_acpi_tables(mem, firmware);
  write_mp_table(mem, firmware);

  std::string cmdline = virtio_console ? kVirtioConsoleParams : kDefaultParams;
  if (!machine.has_irqchip()) cmdline += " noapic nolapic";  // nothing would answer at 0xfee00000
  if (!o.params.empty()) cmdline += " " + o.params;

  EntryState entry;
  if (format == KernelFormat::kMultiboot) {
    MultibootConfig mb;
    mb.cmdline = o.params;  // a Multiboot kernel gets exactly -p
    if (!o.initrd.empty()) mb.modules.push_back({&initrd, o.initrd});
    entry = load_multiboot(mem, kernel, mb);
  } else {
    LinuxBootConfig lb;
    lb.cmdline = cmdline;
    lb.initrd = o.initrd.empty() ? nullptr : &initrd;
    lb.initrd_name = o.initrd;
    lb.rsdp_addr = acpi.rsdp;
    lb.entry16 = o.entry == "16";
    entry = load_linux(mem, kernel, lb);
  }
  if (trace) {
    std::fprintf(trace, "softkvm: [stage] loader: %s, %s, %zu bytes; entry %#llx; -m %llu MiB, -c %u, --backend %s%s\n",
                 o.kernel.c_str(), entry.loader, kernel.size(), static_cast<unsigned long long>(entry.rip),
                 static_cast<unsigned long long>(o.mem_mib), o.cpus, backend.name,
                 machine.has_irqchip() ? ", in-kernel irqchip" : ", no irqchip (polled console)");
    if (!o.initrd.empty()) std::fprintf(trace, "softkvm: initrd %s, %zu bytes\n", o.initrd.c_str(), initrd.size());
    std::fprintf(trace, "softkvm: command line: %s\n",
                 format == KernelFormat::kMultiboot ? o.params.c_str() : cmdline.c_str());
  }
  machine.set_entry(entry);

  IoBus io(stdout, trace);
  io.enable_pc_devices([] { return std::time(nullptr); }, config.mem_bytes, o.reset_status);
  io.uart().set_irq_callback([&machine](bool level) { machine.set_irq_line(Uart8250::kCom1Irq, level); });
  if (format != KernelFormat::kMultiboot) io.uart().hold_input_until_rx_interrupt();  // Linux: see uart8250.h
  if (disk_fd >= 0) {
    auto blk = std::make_unique<VirtioMmioBlock>(mem, disk_fd, disk_size, disk_read_only, "softkvm-disk0");
    blk->set_irq_callback([&machine](bool level) { machine.set_irq_line(kVirtioBlkGsi, level); });
    io.add_virtio_block(kVirtioBlkBase, std::move(blk));
    if (trace) {
      std::fprintf(trace, "softkvm: --disk %s: virtio-blk (virtio-mmio) at %#llx, GSI %u, %llu sectors%s\n",
                   o.disk.c_str(), static_cast<unsigned long long>(kVirtioBlkBase), kVirtioBlkGsi,
                   static_cast<unsigned long long>(disk_size / 512), disk_read_only ? ", read-only" : "");
    }
  }
  VirtioMmioConsole* hvc = nullptr;
  if (virtio_console) {
    auto con = std::make_unique<VirtioMmioConsole>(mem, stdout);
    con->set_irq_callback([&machine](bool level) { machine.set_irq_line(kVirtioConsoleGsi, level); });
    hvc = con.get();
    io.add_virtio_console(kVirtioConsoleBase, std::move(con));
    if (trace) {
      std::fprintf(trace, "softkvm: --console virtio: virtio-console (virtio-mmio) at %#llx, GSI %u; stdin/stdout are hvc0\n",
                   static_cast<unsigned long long>(kVirtioConsoleBase), kVirtioConsoleGsi);
    }
  }
  if (trace) {
    trace_stage(trace, "setup done");
    auto on_line = [trace](const std::string& line) {
      // Linux prints this right before it executes init (init/main.c).
      if (line.find("Run /") != std::string::npos && line.find("as init process") != std::string::npos) {
        trace_stage(trace, "userspace: the kernel starts init");
      }
    };
    io.uart().set_first_byte_callback([trace] { trace_stage(trace, "first serial byte"); });
    io.uart().set_line_callback(on_line);
    if (hvc) {
      hvc->set_first_byte_callback([trace] { trace_stage(trace, "first hvc0 byte (virtio console)"); });
      hvc->set_line_callback(on_line);
    }
  }
  Console console(io);
  console.start();
  const int status = machine.run(io);
  console.stop();
  if (trace) std::fprintf(trace, "softkvm: exit status %d\n", status);
  return status;
}

int run_command(RunOptions o) {
  const KvmBackend* backend = find_backend(o.backend);
  if (!backend) return fail("run: unknown --backend '" + o.backend + "' (expected soft or host)");
  const bool kernel = !o.kernel.empty();
  if (kernel == !o.flat.empty()) return fail("run: give exactly one of -k KERNEL or --flat FILE");
  if (o.console != "serial" && o.console != "virtio") {
    return fail("run: unknown --console '" + o.console + "' (expected serial or virtio)");
  }
  if (!kernel && (!o.initrd.empty() || !o.params.empty() || !o.disk.empty() || o.cpus != 1 ||
                  o.console != "serial" || !o.guest_profile.empty())) {
    return fail("run: -i, -p, --disk, -c, --console and --guest-profile need -k KERNEL (not --flat)");
  }
  if (!o.mem_given) o.mem_mib = kernel ? kDefaultKernelMemMiB : 64;
  if (o.mem_mib < kMinMemMiB || o.mem_mib > kMaxMemMiB) {
    return fail("run: --mem " + std::to_string(o.mem_mib) + " out of range (" +
                std::to_string(kMinMemMiB) + ".." + std::to_string(kMaxMemMiB) + " MiB)");
  }
  if (kernel && o.mem_mib < 2) return fail("run: -m " + std::to_string(o.mem_mib) + ": a kernel needs at least 2 MiB");
  if (o.reset_status < 0 || o.reset_status > 255) {
    return fail("run: --reset-status " + std::to_string(o.reset_status) + " out of range (0..255)");
  }
  if (o.entry != "64" && o.entry != "16") return fail("run: unknown --entry '" + o.entry + "' (expected 64 or 16)");
  if (o.cpus < 1 || o.cpus > kMaxCpus) {
    return fail("run: -c " + std::to_string(o.cpus) + " out of range (1.." + std::to_string(kMaxCpus) + ")");
  }
  try {
    return kernel ? run_kernel(o, *backend) : run_flat(o, *backend);
  } catch (const VmmError& e) {
    Console::restore_terminal();
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
  softkvm run -k /boot/vmlinuz -i initrd.img                # Linux on the soft backend
  softkvm run -k vmlinuz -i initrd.img -c 2 -m 512 -p quiet  # 2 CPUs, 512 MiB, extra params
  softkvm run -k mbkernel.bin -i module.txt --backend host   # a Multiboot kernel on /dev/kvm
  softkvm run --flat build/guests/demo.bin                   # a flat binary in long mode
  softkvm exec -- ./my-kvm-client --its-args                 # any KVM client on softkvm
)";

constexpr const char* kRunFooter = R"(Kernels (-k): a bzImage or vmlinux (Linux 64-bit boot protocol, zero page
with e820, command line and initrd; --entry 16: the bzImage's real-mode setup
code with a tiny firmware for INT 15h E820) or a Multiboot v1 kernel (32-bit
entry, -i becomes module 0, -p its command line). The machine: RAM from 0 (-m,
default 256 MiB), -c CPUs with the in-kernel irqchip and PIT when the backend
has KVM_CAP_IRQCHIP (else one CPU, no interrupts, polled console), ACPI and
MP tables, COM1 (16550A, IRQ 4) on stdin/stdout (raw terminal; Ctrl-A x
quits), CMOS RTC, i8042 (reset), PCI host bridge, isa-debug-exit at 0xf4,
--disk as virtio-blk over virtio-mmio at 0xd0000000, GSI 5 (in the DSDT).
Linux gets: "console=ttyS0 earlyprintk=ttyS0 )" SKVM_COMMON_PARAMS R"("
(+ "noapic nolapic" without an irqchip) followed by -p.
--console virtio: a virtio-console at 0xd0000200, GSI 6 (in the DSDT) is the
terminal instead of COM1 (input goes to hvc0), with "console=hvc0
earlyprintk=ttyS0": the boot log comes through COM1 (also stdout) until hvc0
exists. Debian's kernel has virtio_console as a module: the initramfs must
load it (virtio, virtio_ring, virtio_mmio, virtio_console) and reopen its
stdio on /dev/hvc0 (tools/initramfs/* do).

Flat binaries (--flat): long mode, the image at 0x10000 with identity paging
(>= 1 GiB, 2 MiB pages), RSP at the top of RAM; or --mode real at 0000:7c00.

Exit status: 0 the guest powered off (ACPI S5) or executed HLT (no irqchip);
(v << 1) | 1 the guest wrote v to port 0xf4 (QEMU's isa-debug-exit);
2 bad command line, file or backend; 4 the guest failed (shutdown, internal
error, unexpected MMIO, KVM_RUN error); 6 (--reset-status) the guest reset
the machine (reboot, or panic with panic=-1); 8 Ctrl-A x.

Examples:
  softkvm run -k vmlinuz -i initrd.img --verbose --stats
  softkvm run -k vmlinuz -i initrd.img -p "rdinit=/bin/sh" --reset-status 0
  echo 'echo HI; poweroff -f' | softkvm run -k vmlinuz -i initrd.img --console virtio
  softkvm run --flat build/guests/hello16.bin --mode real --backend host
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

  RunOptions o;
  CLI::App* run = app.add_subcommand("run", "Boot a kernel or run a flat binary on a KVM backend");
  run->add_option("-k,--kernel", o.kernel, "Kernel: bzImage, vmlinux ELF or Multiboot v1")->type_name("FILE");
  run->add_option("-i,--initrd", o.initrd, "Initial ramdisk (Linux) or module (Multiboot)")->type_name("FILE");
  run->add_option("-p,--params,--append", o.params, "Kernel command line, appended to the defaults")
      ->type_name("CMDLINE");
  run->add_option("-c,--cpus", o.cpus, "Number of vCPUs (1..32; >1 needs the in-kernel irqchip)")
      ->capture_default_str()->type_name("N");
  run->add_option("--entry", o.entry, "bzImage entry: 64 (64-bit boot protocol) or 16 (real-mode setup code)")
      ->capture_default_str()->type_name("64|16");
  run->add_option("--disk", o.disk, "Raw disk image: virtio-blk on virtio-mmio (ACPI LNRO0005, /dev/vda)")->type_name("FILE");
  run->add_option("--console", o.console,
                  "Guest console on stdin/stdout: serial (COM1, console=ttyS0) or virtio (virtio-console, console=hvc0)")
      ->capture_default_str()->type_name("serial|virtio");
  run->add_option("--flat", o.flat, "Flat binary to load and run")->type_name("FILE");
  run->add_option("--mode", o.mode, "--flat: CPU mode at entry: long or real")->capture_default_str()->type_name("MODE");
  CLI::Option* mem_option = run->add_option("-m,--mem", o.mem_mib, "Guest RAM in MiB (1..3072; default 256 with -k, 64 with --flat)")
      ->type_name("MiB");
  run->add_option("--backend", o.backend, "soft (libsoftkvm) or host (/dev/kvm)")->capture_default_str()->type_name("NAME");
  run->add_option("--reset-status", o.reset_status, "Exit status when the guest resets the machine")
      ->capture_default_str()->type_name("N");
  run->add_flag("--verbose,-v", o.verbose, "Trace setup, boot stages, unhandled I/O and the exit to stderr");
  run->add_flag("--stats", o.stats,
                "Print exit counters per reason, CPU/preempted/halted time and device counters on stderr at the end");
  run->add_option("--guest-profile", o.guest_profile,
                  "Sample vCPU 0's RIP every ms of CPU time; print the top functions named by this System.map "
                  "at the end (-k only; boot Linux with -p nokaslr)")
      ->type_name("MAP");
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
  o.mem_given = mem_option->count() > 0;
  if (run->parsed()) return run_command(o);
  return fail("exec: missing command (usage: softkvm exec -- CMD [ARGS...])");
}
