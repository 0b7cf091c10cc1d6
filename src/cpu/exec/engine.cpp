// The run loop: look up (or build) the block at CS:RIP, run its records'
// handlers back to back, and turn handler failures into exception delivery
// or stops. Exit protocols are described in src/cpu/README.md.
#include <cstring>

#include "cpu/decode/decoder.h"
#include "cpu/events/debug.h"
#include "cpu/exec/engine_impl.h"
#include "cpu/mmu/mmu_impl.h"

namespace skvm::cpu {

EngineImpl::EngineImpl(Cpu& cpu) : cpu_(cpu), s_(cpu.state()), x_(cpu) {}

void EngineImpl::state_changed() {
  cache_.bump_chain_epoch();
  x_.op = FlagOp::kNone;  // rflags was set from outside: it is exact
}

void EngineImpl::code_page_written(uint64_t gpa, unsigned size) {
  uint64_t first = gpa & kPageMask, last = (gpa + (size ? size - 1 : 0)) & kPageMask;
  // A block of the page that is running ends after the writing instruction
  // (BlockCache::invalidate_page marks its records).
  cache_.invalidate_page(first);
  if (last != first) cache_.invalidate_page(last);
}

unsigned EngineImpl::code_size() const {
  if ((s_.efer & kEferLMA) && s_.seg[kCs].l) return 8;
  if (!(s_.cr0 & kCr0PE) || (s_.rflags & kFlagVM)) return 2;
  return s_.seg[kCs].db ? 4 : 2;
}

Stop EngineImpl::finish(Stop s) {
  x_.flags();  // RFLAGS is exact whenever run()/step() returns
  mmu_code_leave(cpu_);  // cross-vCPU code: idle until the next run()
  cpu_.exit().reason = s;
  return s;
}

Stop EngineImpl::run(const std::atomic<int>* kick) { return execute(kick, false); }
Stop EngineImpl::step() { return execute(nullptr, true); }

bool EngineImpl::complete_pending(Stop* stop) {
  Pending p = pending_;
  pending_ = Pending::kNone;
  if (p == Pending::kMmioRead) {
    mmu_complete_mmio_read(cpu_);
    return true;  // the instruction re-executes and is served the data
  }
  if (p != Pending::kIo) return true;
  // As KVM (x86.c complete_fast_pio_out): if the client moved RIP, the
  // completion is dropped.
  if (s_.rip != pending_rip_) return true;
  // Re-run the exited instruction in completion mode: OUT retires, IN takes
  // its data from the PIO page, string forms advance and maybe restart.
  uint64_t start = s_.rip;
  s_.rip = start + pending_insn_.len;
  x_.io_done = true;
  x_.io_count = pending_count_;
  bool ok = pending_insn_.fn(x_, pending_insn_);
  x_.io_done = false;
  if (ok) {
    s_.interrupt_shadow = 0;  // the instruction retired (x86.c: complete_fast_pio_out)
    return true;
  }
  return after_fail(start, pending_insn_, stop) == Next::kContinue;
}

EngineImpl::Next EngineImpl::deliver_pending_exception(Stop* stop) {
  Signals& sg = cpu_.signals();
  x_.flags();
  bool shutdown = false;
  uint8_t vector = sg.vector;
  // KVM sets RFLAGS.RF before injecting a fault-class exception (x86.c
  // inject_pending_event): the pushed image carries RF, and a triple fault
  // leaves it set. The handler's first instruction starts with RF clear.
  const bool fault_class = vector != kDB && vector != kNMI && vector != kBP && vector != kOF &&
                           vector != kDF && vector != kMC;
  if (fault_class) s_.rflags |= kFlagRF;
  if (!deliver_event(cpu_, EventKind::kException, vector, sg.has_error, sg.error_code, s_.rip, &shutdown)) {
    *stop = shutdown ? Stop::kShutdown : cpu_.exit().reason;
    if (!shutdown && !sg.exit_now) *stop = Stop::kInternal;
    return Next::kStop;
  }
  s_.rflags &= ~kFlagRF;
  cache_.bump_chain_epoch();  // delivery may change mode
  return Next::kContinue;
}

bool EngineImpl::event_ready() const {
  const bool shadow = s_.interrupt_shadow != 0;
  uint8_t vector;
  if (cpu_.queued_exception().queued) return true;
  if (cpu_.interrupt_queued(&vector)) return true;
  if (cpu_.nmi_pending() != 0 && !s_.nmi_masked && !shadow) return true;
  return cpu_.interrupt_window_requested() && cpu_.interrupt_window_open();
}

// x86.c: inject_pending_event: an injected interrupt (KVM_INTERRUPT) first,
// re-injected whatever IF says, then a new NMI when NMIs are not blocked;
// vcpu_run: KVM_EXIT_IRQ_WINDOW_OPEN once dm_request_for_irq_injection &&
// kvm_vcpu_ready_for_interrupt_injection (with VMX interrupt-window
// exiting: at the first boundary where the window is open, entry included).
EngineImpl::Next EngineImpl::boundary_events(Stop* stop, bool* delivered) {
  *delivered = false;
  bool shutdown = false;
  uint8_t vector = 0;
  // x86.c inject_pending_event: an injected / pending exception first
  // (KVM_SET_VCPU_EVENTS, KVM_GUESTDBG_INJECT_DB/BP).
  const Cpu::QueuedException exc = cpu_.queued_exception();
  if (exc.queued) {
    cpu_.clear_queued_exception();
    x_.flags();
    *delivered = true;
    cache_.bump_chain_epoch();
    if (!deliver_event(cpu_, EventKind::kException, exc.vector, exc.has_error, exc.error_code,
                       s_.rip + exc.insn_len, &shutdown)) {
      *stop = shutdown ? Stop::kShutdown : cpu_.exit().reason;
      if (!shutdown && !cpu_.signals().exit_now) *stop = Stop::kInternal;
      return Next::kStop;
    }
    s_.rflags &= ~kFlagRF;
  }
  if (cpu_.interrupt_queued(&vector)) {
    cpu_.clear_queued_interrupt();
    x_.flags();
    *delivered = true;
    cache_.bump_chain_epoch();  // delivery may change mode
    if (!deliver_event(cpu_, EventKind::kExternal, vector, false, 0, s_.rip, &shutdown)) {
      *stop = shutdown ? Stop::kShutdown : cpu_.exit().reason;
      if (!shutdown && !cpu_.signals().exit_now) *stop = Stop::kInternal;
      return Next::kStop;
    }
    s_.interrupt_shadow = 0;  // the handler's first instruction is not shadowed
  }
  if (cpu_.nmi_pending() != 0 && !s_.nmi_masked && s_.interrupt_shadow == 0) {
    cpu_.set_nmi_pending(cpu_.nmi_pending() - 1);
    x_.flags();
    *delivered = true;
    cache_.bump_chain_epoch();
    if (!deliver_event(cpu_, EventKind::kNmi, kNMI, false, 0, s_.rip, &shutdown)) {
      *stop = shutdown ? Stop::kShutdown : cpu_.exit().reason;
      if (!shutdown && !cpu_.signals().exit_now) *stop = Stop::kInternal;
      return Next::kStop;
    }
  }
  if (cpu_.interrupt_window_requested() && cpu_.interrupt_window_open()) {
    *stop = Stop::kIrqWindowOpen;
    return Next::kStop;
  }
  return Next::kContinue;
}

EngineImpl::Next EngineImpl::debug_trap(uint64_t bits, Stop* stop) {
  if (db_exits_to_host(cpu_)) {
    *stop = db_exit(cpu_, bits);
    return Next::kStop;
  }
  x_.flags();
  apply_db_payload(s_, bits);
  cache_.bump_chain_epoch();
  bool shutdown = false;
  // A trap: the return address is the next instruction (s_.rip).
  if (!deliver_event(cpu_, EventKind::kException, kDB, false, 0, s_.rip, &shutdown)) {
    *stop = shutdown ? Stop::kShutdown : cpu_.exit().reason;
    if (!shutdown && !cpu_.signals().exit_now) *stop = Stop::kInternal;
    return Next::kStop;
  }
  return Next::kContinue;
}

// SDM Vol. 3B 17.3.1 (debug exception conditions) and 6.8.3 (MOV SS
// shadow); vmx.c handle_exception_nmi for the KVM_SET_GUEST_DEBUG exits.
EngineImpl::Next EngineImpl::debug_insn(const Insn& i, Stop* stop) {
  const GuestDebug& gd = cpu_.guest_debug();
  if (deferred_dr6_ != 0) {
    const uint64_t bits = deferred_dr6_;
    deferred_dr6_ = 0;
    return debug_trap(bits, stop);
  }
  const uint64_t start = s_.rip;
  // Instruction breakpoints fault before the instruction; RF suppresses them
  // for one instruction (SDM 17.3.1.1).
  if (!(s_.rflags & kFlagRF)) {
    const uint64_t hits = code_breakpoint_hits(cpu_, linear_rip(s_));
    if (hits != 0) {
      shadow_dr6_ = 0;
      return debug_trap(hits, stop);  // RIP still on the instruction: a fault
    }
  }
  const bool tf = (s_.rflags & kFlagTF) != 0;
  const bool rf = (s_.rflags & kFlagRF) != 0;
  const uint8_t shadow = s_.interrupt_shadow;
  const uint64_t deliveries = cpu_.deliveries();
  cpu_.mmu().take_watch_hits();
  s_.rip = start + i.len;
  if (!i.fn(x_, i)) {
    const uint64_t held = shadow_dr6_;
    shadow_dr6_ = 0;
    const Next n = after_fail(start, i, stop);
    // An I/O exit: the instruction completes at the next run() entry; its
    // trap is taken at the boundary after it.
    if (n == Next::kStop && *stop == Stop::kIo && (tf || (gd.enable && gd.singlestep))) {
      deferred_dr6_ = held | kDr6Bs;
    }
    return n;
  }
  if (shadow) s_.interrupt_shadow &= static_cast<uint8_t>(~shadow);
  // RF is cleared once an instruction completes (SDM 17.3.1.1); IRET / POPF
  // that load it keep it for the next one.
  if (rf) s_.rflags &= ~kFlagRF;
  uint64_t bits = cpu_.mmu().take_watch_hits() | shadow_dr6_;
  shadow_dr6_ = 0;
  // TF as the instruction started: set by this instruction, no trap yet;
  // cleared by it (POPF, SYSCALL's mask), still a trap. INT n / INT3 / INTO
  // / INT1 deliver an event, which clears TF before any trap.
  const bool delivered = cpu_.deliveries() != deliveries;
  if ((tf && !delivered) || (gd.enable && gd.singlestep)) bits |= kDr6Bs;
  Signals& sig = cpu_.signals();
  if (sig.exit_after) {
    sig.exit_after = false;
    deferred_dr6_ = bits;
    *stop = cpu_.exit().reason;
    return Next::kStop;
  }
  if (bits == 0) return Next::kContinue;
  // SDM 6.8.3: MOV SS / POP SS hold the debug trap until after the next
  // instruction.
  if ((s_.interrupt_shadow & kShadowMovSs) && !(shadow & kShadowMovSs)) {
    shadow_dr6_ = bits;
    return Next::kContinue;
  }
  return debug_trap(bits, stop);
}

EngineImpl::Next EngineImpl::after_fail(uint64_t start, const Insn& i, Stop* stop) {
  Signals& sg = cpu_.signals();
  if (x_.stop_pending) {
    x_.stop_pending = false;
    // A retiring stop (HLT) ends an STI / MOV SS shadow, as KVM's
    // kvm_skip_emulated_instruction does (sti; hlt waits with interrupts open).
    if (x_.stop_retire) s_.interrupt_shadow = 0;
    else s_.rip = start;
    if (x_.io_started) {
      x_.io_started = false;
      pending_ = Pending::kIo;
      pending_insn_ = i;
      pending_rip_ = start;
      pending_count_ = cpu_.exit().io.count;
    }
    *stop = x_.stop;
    return Next::kStop;
  }
  if (sg.exception) {
    s_.rip = start;
    return deliver_pending_exception(stop);
  }
  if (sg.memory_fault) {
    s_.rip = start;
    *stop = Stop::kMemoryFault;
    return Next::kStop;
  }
  if (sg.exit_now) {
    s_.rip = start;
    *stop = cpu_.exit().reason;
    if (*stop == Stop::kMmio && !cpu_.exit().mmio.is_write) pending_ = Pending::kMmioRead;
    return Next::kStop;
  }
  if (sg.exit_after) {
    *stop = cpu_.exit().reason;
    return Next::kStop;
  }
  // A handler failed without saying why: an engine bug, reported the way
  // KVM reports an emulation failure rather than guessed around.
  s_.rip = start;
  cpu_.exit().internal = InternalExit{};
  *stop = Stop::kInternal;
  return Next::kStop;
}

bool EngineImpl::revalidate(Block* b, uint64_t la) {
  ++revalidations_;
  // Whether the `len` bytes at linear `at` (possibly on two pages) are `raw`.
  const auto same = [&](uint64_t at, const uint8_t* raw, unsigned len) {
    unsigned avail;
    uint64_t gpa;
    const uint8_t* p = fetch_ptr(cpu_, at, &avail, &gpa);
    if (!p) {
      cpu_.signals() = Signals{};
      return false;
    }
    unsigned n1 = len < avail ? len : avail;
    // SAFETY: p points at avail readable bytes of a RAM page.
    if (std::memcmp(p, raw, n1) != 0) return false;
    if (n1 < len) {
      const uint8_t* p2 = fetch_ptr(cpu_, at + n1, &avail, &gpa);
      if (!p2 || avail < len - n1) {
        cpu_.signals() = Signals{};
        return false;
      }
      if (std::memcmp(p2, raw + n1, len - n1) != 0) return false;
    }
    return true;
  };
  if (!same(la, b->raw, b->raw1_len)) return false;
  if (b->raw1_len < b->raw_len &&
      !same((la & kPageMask) | b->seg2_off, b->raw + b->raw1_len, b->raw_len - b->raw1_len))
    return false;
  b->epoch = host_epoch_;
  return true;
}

Block* EngineImpl::lookup(Block* prev) {
  unsigned cs = code_size();
  uint64_t la = s_.seg[kCs].base + s_.rip;
  if (cs != 8) la &= 0xffffffffull;
  unsigned avail;
  uint64_t gpa;
  const uint8_t* p = fetch_ptr(cpu_, la, &avail, &gpa);
  if (!p) return nullptr;
  uint64_t key = BlockCache::make_key(gpa, cs);
  Block* b = cache_.find(key);
  if (b && b->gpa2 != ~0ull) {
    // The tail lives on the next linear page: its mapping must not have moved.
    unsigned avail2;
    uint64_t gpa2;
    const uint8_t* p2 = fetch_ptr(cpu_, (la & kPageMask) + kPageSize, &avail2, &gpa2);
    if (!p2) {
      cpu_.signals() = Signals{};
      b = nullptr;
    } else if ((gpa2 & kPageMask) != b->gpa2) {
      b = nullptr;
    }
  }
  if (b && b->epoch != host_epoch_ && !revalidate(b, la)) {
    cache_.invalidate_page(gpa & kPageMask);
    b = nullptr;
  }
  if (!b) {
    uint64_t flushes = cache_.flushes();
    b = build(la, p, avail, gpa, cs);
    if (!b) return nullptr;
    if (cache_.flushes() != flushes) prev = nullptr;  // its slot may be reused
  }
  // Link prev -> b by RIP (CS, paging and mode are covered by chain_epoch).
  // Blocks whose tail is on another page are always looked up in full.
  if (prev && prev->valid && b->gpa2 == ~0ull) {
    if (prev->chain_epoch != cache_.chain_epoch()) {
      prev->chain_epoch = cache_.chain_epoch();
      prev->succ[0] = prev->succ[1] = nullptr;
      prev->succ_rip[0] = prev->succ_rip[1] = ~0ull;
    }
    int k = prev->succ_next;
    prev->succ[k] = b;
    prev->succ_rip[k] = s_.rip;
    prev->succ_next = static_cast<uint8_t>(k ^ 1);
  }
  return b;
}

Block* EngineImpl::build(uint64_t la, const uint8_t* p, unsigned avail, uint64_t gpa, unsigned cs) {
  if (!cache_.has_room()) cache_.flush();
  Insn* out = cache_.insn_space();
  uint8_t* raw = cache_.raw_space();
  uint32_t n = 0, raw_len = 0;
  uint64_t gpa2 = ~0ull;
  const uint64_t page_end = (la & kPageMask) + kPageSize;
  uint64_t cur = la;
  // The segment being decoded: from seg_la, seg_p, seg_avail bytes. A block
  // continues once across a direct JMP / CALL to the same page (64-bit
  // code): the second segment starts at its target.
  uint64_t seg_la = la;
  const uint8_t* seg_p = p;
  unsigned seg_avail = avail;
  uint32_t raw1_len = 0;
  uint16_t seg2_off = 0;
  bool jumped = false;
  while (n < BlockCache::kMaxBlockInsns) {
    // Gather up to 15 bytes: from this page, then from the next one.
    uint8_t buf[decode::kMaxInsnLen];
    unsigned off = static_cast<unsigned>(cur - seg_la);
    unsigned here = seg_avail > off ? seg_avail - off : 0;
    unsigned have = here < decode::kMaxInsnLen ? here : decode::kMaxInsnLen;
    // SAFETY: seg_p points at `seg_avail` readable bytes of the first page.
    std::memcpy(buf, seg_p + off, have);
    decode::Decoded d = decode::decode(buf, have, cs, &out[n], cpu_.cpuid_features());
    if (d.len == 0) {
      // The instruction continues on the next page. A continued block stays
      // on one page: it ends before this instruction.
      if (jumped) break;
      unsigned avail2;
      uint64_t g2;
      const uint8_t* p2 = fetch_ptr(cpu_, page_end, &avail2, &g2);
      if (!p2) {
        if (n > 0) {
          cpu_.signals() = Signals{};  // fault when (if) it is executed
          break;
        }
        return nullptr;  // the first instruction's fetch faults now
      }
      unsigned more = decode::kMaxInsnLen - have;
      if (more > avail2) more = avail2;
      std::memcpy(buf + have, p2, more);
      d = decode::decode(buf, have + more, cs, &out[n], cpu_.cpuid_features());
      gpa2 = g2 & kPageMask;
    }
    out[n].fn = exec::specialize(out[n], n > 0 ? &out[n - 1] : nullptr);
    std::memcpy(raw + raw_len, buf, d.len);
    raw_len += d.len;
    cur += d.len;
    ++n;
    uint64_t target;
    if (d.ends_block && !jumped && cs == 8 && gpa2 == ~0ull && cur < page_end &&
        n < BlockCache::kMaxBlockInsns && exec::direct_target(out[n - 1], cur, &target) &&
        target != cur && (target & kPageMask) == (la & kPageMask)) {
      // The handler leaves RIP at `target`, on this block's page: decode on
      // from there (one block per loop iteration of call/ret, jmp loops).
      // A jump to the next instruction (`jmp $+2`, the old prefetch-queue
      // flush after code writes) still ends its block.
      unsigned avail_t;
      uint64_t gpa_t;
      const uint8_t* p_t = fetch_ptr(cpu_, target, &avail_t, &gpa_t);
      if (p_t && (gpa_t & kPageMask) == (gpa & kPageMask)) {
        jumped = true;
        raw1_len = raw_len;
        seg2_off = static_cast<uint16_t>(target & ~kPageMask);
        seg_la = cur = target;
        seg_p = p_t;
        seg_avail = avail_t;
        continue;
      }
      cpu_.signals() = Signals{};  // not taken here: the handler's RIP is looked up
    }
    if (d.ends_block || cur >= page_end) break;
  }
  out[n - 1].attrs_end |= kInsnLastInBlock;
  bool new_page[2];
  Block* b = cache_.commit(BlockCache::make_key(gpa, cs), gpa2, n, raw_len, host_epoch_, new_page);
  if (jumped) {
    b->raw1_len = raw1_len;
    b->seg2_off = seg2_off;
  }
  b->exit_checks = exec::may_arm_checks(out[n - 1]);
  if (new_page[0]) tlb_protect_code(cpu_, gpa & kPageMask);
  if (new_page[1]) tlb_protect_code(cpu_, gpa2);
  ++blocks_built_;
  return b;
}

// One plain block: no debug, no shadow, no client events armed.
[[gnu::always_inline]] inline EngineImpl::Next EngineImpl::run_plain(const Block* b, Stop* stop) {
  CpuState& s = s_;
  Exec& x = x_;
  Signals& sig = cpu_.signals();
  for (const Insn* i = b->insns;; ++i) {
    const uint64_t start = s.rip;
    s.rip = start + i->len;
    if (!i->fn(x, *i)) [[unlikely]] {
      if (after_fail(start, *i, stop) == Next::kStop) return Next::kStop;
      return Next::kBreak;  // an exception was delivered: continue at the handler
    }
    if (sig.exit_after) [[unlikely]] {
      sig.exit_after = false;
      *stop = cpu_.exit().reason;
      return Next::kStop;
    }
    if (i->attrs_end & kInsnLastInBlock) return Next::kContinue;
  }
}

namespace {
// Polled when no kick flag is given (step(), tests): never raised.
const std::atomic<int> kNoKick{0};
// Chained blocks run between two memslot-generation checks.
constexpr unsigned kGenPeriod = 64;
}  // namespace

Stop EngineImpl::execute(const std::atomic<int>* kick, bool single) {
  cpu_.signals() = Signals{};
  mmu_code_enter(cpu_);  // cross-vCPU code: other vCPUs' writes and new code pages
  // Running resumes a halted CPU (KVM without an in-kernel LAPIC: after a
  // HLT exit the next KVM_RUN continues after the HLT).
  s_.halted = false;
  x_.stop_pending = false;
  x_.io_started = false;
  // The client may have changed registers and memory since the last exit.
  cache_.bump_chain_epoch();
  update_data_breakpoints(cpu_);
  Stop stop = Stop::kHlt;
  // The pieces of a page-crossing MMIO write after the first: one exit each
  // (the instruction retired at the first one).
  if (mmu_next_mmio_write(cpu_)) return finish(Stop::kMmio);
  if (pending_ != Pending::kNone) {
    bool was_io = pending_ == Pending::kIo;
    if (!complete_pending(&stop)) return finish(stop);
    // A completed I/O instruction is the step.
    if (single && was_io) return finish(Stop::kKick);
  }
  const std::atomic<int>& kick_flag = kick ? *kick : kNoKick;
  Cpu& cpu = cpu_;
  // Client events are armed or disarmed only by the client between runs and
  // by boundary_events() (re-read after each call): no handler does, so
  // this answer holds until then.
  bool armed = cpu.events_armed();
  Block* prev = nullptr;  // the block that ran to its end just before
  Block* b = nullptr;     // the next block when the fast path found it
  unsigned gen_countdown = kGenPeriod;
  // Chained successor of a block that ran to its end (the common case):
  // same translation regime and mode as when the link was made
  // (chain_epoch; a handler that changed system state raised sys_changed),
  // code unchanged. Links are made to valid blocks validated at the current
  // host epoch, and invalidation, flushes and host-epoch bumps all move
  // chain_epoch, so a link of the current chain epoch needs no further
  // check. Memslot changes are rare and asynchronous: checked on the slow
  // path, which runs at least every kGenPeriod-th block. nullptr: take the
  // slow path.
  const auto follow = [&](const Block* p) -> Block* {
    if (x_.sys_changed || p->chain_epoch != cache_.chain_epoch() || --gen_countdown == 0 ||
        mmu_code_stale(cpu)) [[unlikely]]
      return nullptr;
    const uint64_t rip = s_.rip;
    if (p->succ_rip[0] == rip) return p->succ[0];
    if (p->succ_rip[1] == rip) return p->succ[1];
    return nullptr;
  };
  for (;;) {
    if (!b) {
      // The slow boundary: full lookup, memslot generation, system-state
      // changes, client events. A kick stops the vCPU at the next block
      // boundary (here, or in the fast path below).
      if (kick_flag.load(std::memory_order_relaxed)) return finish(Stop::kKick);
      gen_countdown = kGenPeriod;
      if (cpu.mmu().generation_changed()) {
        // Memslots changed: translations and possibly the code behind a gpa.
        mmu_check_generation(cpu);
        cache_.bump_chain_epoch();
        ++host_epoch_;
      }
      mmu_code_sync(cpu);  // other vCPUs' code writes (mmu_impl.h)
      if (x_.sys_changed) {
        x_.sys_changed = false;
        cache_.bump_chain_epoch();
      }
      // After a block that ran to its end, the events were already checked
      // after its last instruction (event_ready() in the checked loop), and
      // nothing but the client or boundary_events() arms them.
      if (!prev && armed) [[unlikely]] {
        bool delivered;
        if (boundary_events(&stop, &delivered) == Next::kStop) return finish(stop);
        armed = cpu.events_armed();
        if (delivered) {
          prev = nullptr;
          if (single) return finish(Stop::kKick);  // the delivery is the step
        }
      }
      b = lookup(prev);
      if (!b) {
        Signals& sg = cpu.signals();
        if (sg.exception) {
          if (deliver_pending_exception(&stop) == Next::kStop) return finish(stop);
          prev = nullptr;
          if (single) return finish(Stop::kKick);
          continue;
        }
        if (sg.memory_fault) return finish(Stop::kMemoryFault);
        return finish(sg.exit_now ? cpu.exit().reason : Stop::kInternal);
      }
    }
    // TF, DR7 and KVM_SET_GUEST_DEBUG: one instruction at a time. TF and
    // DR7 change only at block ends (POPF, IRET, MOV DR end their blocks).
    if (debug_armed(cpu)) [[unlikely]] {
      if (debug_insn(b->insns[0], &stop) == Next::kStop) return finish(stop);
      if (single) return finish(Stop::kKick);
      prev = b = nullptr;
      continue;
    }
    if (s_.interrupt_shadow | static_cast<uint8_t>(armed) | static_cast<uint8_t>(single)) [[unlikely]] {
      // The checked path: an interrupt shadow to end, client events to take
      // as soon as they are ready, or one instruction (step()).
      const Next n = run_checked(b, single, &stop);
      if (n == Next::kStop) return finish(stop);
      if (single) return finish(Stop::kKick);
      if (n != Next::kContinue) {
        prev = b = nullptr;
        continue;
      }
      if (kick_flag.load(std::memory_order_relaxed)) [[unlikely]] return finish(Stop::kKick);
      prev = b;
      b = follow(prev);
      continue;
    }
    // The fast path: run plain blocks and follow their chained successors.
    // Per instruction it checks nothing but the handler's result, the
    // MMIO-write exit and the SMC flag; per block the kick, the chain and
    // whether the next block needs the debug or checked path.
    for (;;) {
      const Next n = run_plain(b, &stop);
      if (n != Next::kContinue) [[unlikely]] {
        if (n == Next::kStop) return finish(stop);
        prev = b = nullptr;  // exception delivered or code written: look up afresh
        break;
      }
      if (kick_flag.load(std::memory_order_relaxed)) [[unlikely]] return finish(Stop::kKick);
      prev = b;
      b = follow(prev);
      if (!b) [[unlikely]] break;
      // TF, DR7 and the interrupt shadow change only through the last
      // record of a block (POPF, STI, MOV DR end theirs; system rows raise
      // sys_changed): re-checked only after such a block.
      if (prev->exit_checks) {
        const CpuState& s = s_;
        if (((s.rflags & kFlagTF) | (s.dr7 & 0xff) | s.interrupt_shadow) != 0) break;  // b found: the debug or checked path takes it
      }
    }
  }
}

EngineImpl::Next EngineImpl::run_checked(const Block* b, bool single, Stop* stop) {
  CpuState& s = s_;
  uint8_t shadow = s.interrupt_shadow;
  const bool armed = cpu_.events_armed();
  for (const Insn* i = b->insns;; ++i) {
    const uint64_t start = s.rip;
    s.rip = start + i->len;
    if (!i->fn(x_, *i)) [[unlikely]] {
      if (after_fail(start, *i, stop) == Next::kStop) return Next::kStop;
      return Next::kBreak;
    }
    if (shadow) {
      // The instruction after STI / MOV SS retired: the shadow ends.
      s.interrupt_shadow &= static_cast<uint8_t>(~shadow);
      shadow = 0;
    }
    if (cpu_.signals().exit_after) [[unlikely]] {
      cpu_.signals().exit_after = false;
      *stop = cpu_.exit().reason;
      return Next::kStop;
    }
    if (armed && event_ready()) return Next::kBreak;  // IF / shadow / NMI mask changed: take the event now
    if (single || (i->attrs_end & kInsnLastInBlock)) return Next::kContinue;
  }
}

}  // namespace skvm::cpu
