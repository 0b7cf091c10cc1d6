#include "runner.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "vm.h"

namespace skvm::fuzz {
namespace {

using test::Backend;
using test::Mode;
using test::Result;

constexpr uint64_t kLowRamSize = 0xc0000;  // slot 0, as tests/guest
// A case runs < 200 instructions; the margin is for a loaded machine (a
// "hang" is re-run once before it counts, see fuzz_main.cpp).
constexpr unsigned kTimeoutSec = 5;

Mode test_mode(FuzzMode m) {
  return m == FuzzMode::k16 ? Mode::kReal : m == FuzzMode::k32 ? Mode::kProt32 : Mode::kLong;
}
uint64_t stack_top(FuzzMode m) { return m == FuzzMode::k16 ? test::kRealStack : test::kFlatStack; }

// The watchdog (as tests/guest): SIGALRM ends a KVM_RUN that never returns.
std::atomic<kvm_run*> g_run{nullptr};
std::atomic<void (*)()> g_notify{nullptr};
void on_alarm(int) {
  if (kvm_run* run = g_run.load()) run->immediate_exit = 1;
  if (auto notify = g_notify.load()) notify();
}

}  // namespace

Outcome run_on_backend(const Program& p, const Backend& backend) {
  Outcome out;
  test::Vm vm(backend);
  if (!vm.error().empty()) {
    out.error = vm.error();
    return out;
  }
  std::string why;
  uint8_t* low = vm.add_ram(0, 0, kLowRamSize, 0, &why);
  if (!low) {
    out.error = "setup: " + why;
    return out;
  }
  std::vector<uint8_t> bin = assemble(p);
  const uint64_t entry = entry_of(p.mode);
  std::memcpy(low + entry, bin.data(), bin.size());
  auto vcpu = vm.create_vcpu(0, &why);
  if (!vcpu) {
    out.error = "setup: " + why;
    return out;
  }
  why = vcpu->set_supported_cpuid();
  if (why.empty()) why = vcpu->enter_mode(test_mode(p.mode), entry);
  if (!why.empty()) {
    out.error = "setup: " + why;
    return out;
  }
  kvm_run* run = vcpu->run();
  g_run.store(run);
  g_notify.store(backend.signal_notify);
  struct sigaction sa {}, old {};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, &old);
  alarm(kTimeoutSec);
  // One KVM_RUN: every exit ends the case (the body does no I/O).
  Result r = vcpu->ioctl(KVM_RUN, 0UL);
  if (r.ret != 0 && r.err == EINTR) {
    out.exit = "hang";  // the watchdog: still running after kTimeoutSec
  } else if (r.ret != 0) {
    out.error = "KVM_RUN: " + test::errno_string(r.err);
  } else {
    uint32_t reason = run->exit_reason;
    if (reason == KVM_EXIT_HLT) out.exit = "hlt";
    else if (reason == KVM_EXIT_SHUTDOWN) out.exit = "shutdown";
    else if (reason == KVM_EXIT_INTERNAL_ERROR) out.exit = "internal-error";
    else if (reason == KVM_EXIT_IO) out.exit = "io";
    else if (reason == KVM_EXIT_MMIO) out.exit = "mmio";
    else out.exit = "other(" + std::to_string(reason) + ")";
  }
  alarm(0);
  sigaction(SIGALRM, &old, nullptr);
  g_run.store(nullptr);
  g_notify.store(nullptr);
  if (!out.error.empty() || out.exit == "hang") return out;
  kvm_regs regs{};
  r = vcpu->ioctl(KVM_GET_REGS, &regs);
  if (r.ret != 0) {
    out.error = "KVM_GET_REGS: " + test::errno_string(r.err);
    return out;
  }
  const uint64_t kvm_order[16] = {regs.rax, regs.rcx, regs.rdx, regs.rbx, regs.rsp, regs.rbp,
                                  regs.rsi, regs.rdi, regs.r8,  regs.r9,  regs.r10, regs.r11,
                                  regs.r12, regs.r13, regs.r14, regs.r15};
  std::memcpy(out.regs, kvm_order, sizeof out.regs);
  out.rflags = regs.rflags;
  out.rip = regs.rip;
  const uint64_t data = data_gpa(p.mode);
  out.data.assign(low + data, low + data + kDataSize);
  const uint64_t sp = stack_top(p.mode);
  out.stack.assign(low + sp - kStackBytes, low + sp);
  return out;
}

// ---- The native oracle ---------------------------------------------------------
namespace {

// Fixed host addresses: the guest's data region and stack (so the numbers the
// body computes are the same), and a context page for the loader/saver.
constexpr uint64_t kCtx = 0x60000;
constexpr uint64_t kCtxFlags = kCtx + 0x80;
constexpr uint64_t kCtxHostRsp = kCtx + 0x88;
constexpr uint64_t kCtxStack = kCtx + 0x800;

struct NativeMaps {
  bool ok = false;
  std::string why;
  uint8_t* code = nullptr;
  uint8_t* code32 = nullptr;  // below 2 GiB (MAP_32BIT): compatibility-mode programs
  uint8_t* ctx = nullptr;
  uint8_t* data = nullptr;
  uint8_t* stack = nullptr;
};

uint8_t* map_fixed(uint64_t addr, std::string* why) {
  void* m = mmap(reinterpret_cast<void*>(addr), 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED || reinterpret_cast<uint64_t>(m) != addr) {
    char b[96];
    std::snprintf(b, sizeof b, "cannot map host page 0x%llx: %s", static_cast<unsigned long long>(addr),
                  std::strerror(errno));
    *why = b;
    return nullptr;
  }
  return static_cast<uint8_t*>(m);
}

NativeMaps& maps() {
  static NativeMaps m = [] {
    NativeMaps n;
    const uint64_t data_page = data_gpa(FuzzMode::k64) & ~0xfffull;
    n.ctx = map_fixed(kCtx, &n.why);
    if (n.ctx) n.data = map_fixed(data_page, &n.why);
    // Two stack pages: the one below the stack top and the one above it
    // (guest RAM there reads as zeros; a POP from the top must not fault).
    if (n.data) n.stack = map_fixed(test::kFlatStack - 4096, &n.why);
    if (n.stack && !map_fixed(test::kFlatStack, &n.why)) n.stack = nullptr;
    if (n.stack) {
      void* c = mmap(nullptr, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (c == MAP_FAILED) n.why = std::string("cannot map executable memory: ") + std::strerror(errno);
      else n.code = static_cast<uint8_t*>(c);
      void* c32 = mmap(nullptr, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                       -1, 0);
      if (c32 != MAP_FAILED) n.code32 = static_cast<uint8_t*>(c32);
    }
    n.ok = n.code != nullptr;
    return n;
  }();
  return m;
}

void put32(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// mov r64, [abs32] (load) or mov [abs32], r64 (store): REX.W(+R) 8B/89, ModRM
// mod=00 rm=100, SIB base=101 index=100 (no base, no index): disp32.
void mov_abs(std::vector<uint8_t>& out, int reg, uint64_t addr, bool store) {
  out.push_back(static_cast<uint8_t>(0x48 | (reg >= 8 ? 4 : 0)));
  out.push_back(store ? 0x89 : 0x8b);
  out.push_back(static_cast<uint8_t>(((reg & 7) << 3) | 4));
  out.push_back(0x25);
  put32(out, addr);
}

std::vector<uint8_t> native_code(const Program& p) {
  std::vector<uint8_t> c = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
  mov_abs(c, kRsp, kCtxHostRsp, true);
  c.insert(c.end(), {0x48, 0xc7, 0xc4});  // mov rsp, kCtxStack
  put32(c, kCtxStack);
  c.insert(c.end(), {0xff, 0x34, 0x25});  // push qword [kCtxFlags]
  put32(c, kCtxFlags);
  c.push_back(0x9d);  // popfq
  for (int r = 0; r < 16; ++r) {
    if (r != kRsp) mov_abs(c, r, kCtx + 8 * r, false);
  }
  mov_abs(c, kRsp, kCtx + 8 * kRsp, false);
  for (const Insn& i : p.body) c.insert(c.end(), i.bytes.begin(), i.bytes.end());
  for (int r = 0; r < 16; ++r) mov_abs(c, r, kCtx + 8 * r, true);
  c.insert(c.end(), {0x48, 0xc7, 0xc4});  // mov rsp, kCtxStack
  put32(c, kCtxStack);
  c.push_back(0x9c);                      // pushfq
  c.insert(c.end(), {0x8f, 0x04, 0x25});  // pop qword [kCtxFlags]
  put32(c, kCtxFlags);
  c.push_back(0xfc);  // cld (the SysV ABI wants DF=0 on return)
  mov_abs(c, kRsp, kCtxHostRsp, false);
  c.insert(c.end(), {0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3});
  return c;
}

// 32-bit programs, run in compatibility mode. Layout of `base` (mapped below
// 2 GiB): 64-bit entry at +0 (saves the callee-saved registers and RSP,
// switches to the context page's stack, far-returns to 0x23:base+0x100),
// 64-bit exit at +0x80 (restores them and returns), the 32-bit loader, body
// and saver at +0x100 (far-returns to 0x33:base+0x80). DS/ES get the user
// data selector (SS) as a 32-bit process has them.
std::vector<uint8_t> native_code32(const Program& p, uint64_t base) {
  std::vector<uint8_t> c = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
  mov_abs(c, kRsp, kCtxHostRsp, true);
  c.insert(c.end(), {0x48, 0xc7, 0xc4});  // mov rsp, kCtxStack
  put32(c, kCtxStack);
  c.insert(c.end(), {0x6a, 0x23, 0x68});  // push 0x23; push base+0x100
  put32(c, base + 0x100);
  c.insert(c.end(), {0x48, 0xcb});  // retfq
  c.resize(0x80, 0xcc);
  mov_abs(c, kRsp, kCtxHostRsp, false);
  c.insert(c.end(), {0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3});
  c.resize(0x100, 0xcc);
  // 32-bit: mov r32, [abs32] is 8B /r with mod 00 rm 101 (disp32).
  auto mov32 = [&](int reg, uint64_t addr, bool store) {
    c.push_back(store ? 0x89 : 0x8b);
    c.push_back(static_cast<uint8_t>((reg << 3) | 5));
    put32(c, addr);
  };
  c.insert(c.end(), {0x16, 0x1f, 0x16, 0x07});  // push ss; pop ds; push ss; pop es
  c.insert(c.end(), {0xff, 0x35});              // push dword [kCtxFlags]
  put32(c, kCtxFlags);
  c.push_back(0x9d);  // popfd
  for (int r = 0; r < 8; ++r) {
    if (r != kRsp) mov32(r, kCtx + 8 * r, false);
  }
  mov32(kRsp, kCtx + 8 * kRsp, false);
  for (const Insn& i : p.body) c.insert(c.end(), i.bytes.begin(), i.bytes.end());
  for (int r = 0; r < 8; ++r) mov32(r, kCtx + 8 * r, true);
  c.push_back(0xbc);  // mov esp, kCtxStack
  put32(c, kCtxStack);
  c.push_back(0x9c);           // pushfd
  c.insert(c.end(), {0x8f, 0x05});  // pop dword [kCtxFlags]
  put32(c, kCtxFlags);
  c.push_back(0xfc);  // cld
  c.insert(c.end(), {0x6a, 0x33, 0x68});  // push 0x33; push base+0x80
  put32(c, base + 0x80);
  c.push_back(0xcb);  // retf
  return c;
}

sigjmp_buf g_jmp;
void on_fault(int sig) { siglongjmp(g_jmp, sig); }

}  // namespace

bool native_available(std::string* why) {
  const NativeMaps& m = maps();
  if (!m.ok) *why = m.why;
  return m.ok;
}

Outcome run_native(const Program& p) {
  Outcome out;
  NativeMaps& m = maps();
  if (!m.ok) {
    out.error = m.why;
    return out;
  }
  const bool m32 = p.mode == FuzzMode::k32;
  if (p.mode == FuzzMode::k16 || (m32 && m.code32 == nullptr)) {
    out.error = m32 ? "no executable memory below 2 GiB for compatibility mode"
                    : "the native oracle runs 32- and 64-bit programs only";
    return out;
  }
  uint8_t* volatile code_page = m32 ? m.code32 : m.code;  // read after sigsetjmp
  std::vector<uint8_t> code = m32 ? native_code32(p, reinterpret_cast<uint64_t>(m.code32)) : native_code(p);
  if (code.size() > 8192) {
    out.error = "body too long for the native runner";
    return out;
  }
  std::memcpy(code_page, code.data(), code.size());
  __builtin___clear_cache(reinterpret_cast<char*>(code_page), reinterpret_cast<char*>(code_page + code.size()));
  // SAFETY: m.ctx is the 4 KiB context page mapped at kCtx; 16 registers and
  // RFLAGS are 136 bytes.
  uint64_t* ctx = reinterpret_cast<uint64_t*>(m.ctx);
  for (int r = 0; r < 16; ++r) ctx[r] = m32 ? (p.regs[r] & 0xffffffffull) : p.regs[r];
  ctx[kRbx] = base_gpa(p.mode);
  ctx[kRsp] = test::kFlatStack;
  ctx[kCtxFlags / 8 - kCtx / 8] = p.flags;
  const uint64_t data_off = data_gpa(p.mode) & 0xfff;
  std::memcpy(m.data + data_off, p.data, kDataSize);
  std::memset(m.stack, 0, 8192);
  // The guest prologue's push/popf leaves RFLAGS just below the stack top
  // (a 4-byte push in 32-bit code).
  const uint64_t pushed_flags = m32 ? (p.flags & 0xffffffffull) : p.flags;
  std::memcpy(m.stack + 4096 - (m32 ? 4 : 8), &pushed_flags, m32 ? 4 : 8);

  static uint8_t alt_stack[1 << 16];
  stack_t ss{}, old_ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  sigaltstack(&ss, &old_ss);
  const int kSigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
  struct sigaction sa {}, old[5];
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER;
  for (int i = 0; i < 5; ++i) sigaction(kSigs[i], &sa, &old[i]);
  int sig = sigsetjmp(g_jmp, 1);
  if (sig == 0) {
    // SAFETY: code_page holds a complete function (callee-saved registers
    // pushed and popped, the host stack pointer saved in the context page and
    // restored) around the body; a fault in the body longjmps back here.
    auto fn = reinterpret_cast<void (*)()>(code_page);
    fn();
  }
  for (int i = 0; i < 5; ++i) sigaction(kSigs[i], &old[i], nullptr);
  sigaltstack(&old_ss, nullptr);
  if (sig != 0) {
    out.exit = "fault";
    return out;
  }
  out.exit = "hlt";
  for (int r = 0; r < 16; ++r) out.regs[r] = m32 ? (r < 8 ? ctx[r] & 0xffffffffull : 0) : ctx[r];
  out.regs32 = m32;
  out.rflags = ctx[kCtxFlags / 8 - kCtx / 8];
  out.data.assign(m.data + data_off, m.data + data_off + kDataSize);
  out.stack.assign(m.stack + 4096 - kStackBytes, m.stack + 4096);
  return out;
}

std::string compare(const Outcome& a, const Outcome& b, bool native) {
  static const char* kNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  std::ostringstream os;
  os << std::hex;
  // A native fault is a guest exception, which the guest (no IDT) turns
  // into a triple fault.
  std::string bexit = native && b.exit == "fault" ? "shutdown" : b.exit;
  if (a.exit != bexit) {
    os << "exit: " << a.exit << " vs " << b.exit << "\n";
    return os.str();
  }
  if (a.exit != "hlt") return {};  // state after a triple fault is not defined
  const bool regs32 = a.regs32 || b.regs32;
  for (int r = 0; r < (regs32 ? 8 : 16); ++r) {
    const uint64_t m = regs32 ? 0xffffffffull : ~0ull;
    if ((a.regs[r] & m) != (b.regs[r] & m)) os << kNames[r] << ": 0x" << a.regs[r] << " vs 0x" << b.regs[r] << "\n";
  }
  uint64_t mask = native ? (kFlagsArith | 0x400) : ~0ull;
  if ((a.rflags & mask) != (b.rflags & mask)) {
    os << "rflags: 0x" << a.rflags << " vs 0x" << b.rflags << " (differ 0x" << ((a.rflags ^ b.rflags) & mask)
       << ")\n";
  }
  if (!native && a.rip != b.rip) os << "rip: 0x" << a.rip << " vs 0x" << b.rip << "\n";
  for (size_t i = 0; i < a.data.size() && i < b.data.size(); ++i) {
    if (a.data[i] != b.data[i]) {
      os << "data+0x" << i << ": 0x" << unsigned(a.data[i]) << " vs 0x" << unsigned(b.data[i]) << "\n";
      break;
    }
  }
  for (size_t i = 0; i < a.stack.size() && i < b.stack.size(); ++i) {
    if (a.stack[i] != b.stack[i]) {
      os << "stack-0x" << (a.stack.size() - i) << ": 0x" << unsigned(a.stack[i]) << " vs 0x"
         << unsigned(b.stack[i]) << "\n";
      break;
    }
  }
  return os.str();
}

bool supported_cpuid_bit(const Backend& backend, uint32_t leaf, uint32_t sub, int reg, int bit) {
  test::Vm vm(backend);
  if (!vm.error().empty()) return false;
  constexpr uint32_t kMax = 256;
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + kMax * sizeof(kvm_cpuid_entry2));
  // SAFETY: buf is sized for the header plus kMax entries and zeroed.
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
  cpuid->nent = kMax;
  if (vm.sys_ioctl(KVM_GET_SUPPORTED_CPUID, reinterpret_cast<unsigned long>(cpuid)).ret != 0) return false;
  for (uint32_t i = 0; i < cpuid->nent; ++i) {
    const kvm_cpuid_entry2& e = cpuid->entries[i];
    if (e.function != leaf || e.index != sub) continue;
    uint32_t v = reg == 0 ? e.eax : reg == 1 ? e.ebx : reg == 2 ? e.ecx : e.edx;
    return (v >> bit) & 1;
  }
  return false;
}

}  // namespace skvm::fuzz
