// What the CPU engine needs from the machine around it. The kvm layer (Vcpu)
// implements it; unit tests implement it with plain buffers. The engine never
// sees an ioctl, a memslot struct or an errno.
#pragma once

#include <atomic>
#include <cstdint>

namespace skvm::cpu {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageMask = ~(kPageSize - 1);

// Result of looking up one guest-physical page.
struct PhysPage {
  uint8_t* host = nullptr;  // host address of the page start; nullptr = no memory (MMIO)
  bool writable = false;    // false for KVM_MEM_READONLY slots: writes become MMIO exits
  bool dirty_log = false;   // the slot logs dirty pages: call Bus::mark_dirty on the first write
};

// A run of guest-physical pages [first, last] (page aligned, inclusive) that
// lookup() describes alike: RAM contiguous in host memory from page.host (the
// host address of `first`), or all unbacked (page.host == nullptr).
class SharedCode;  // cache/shared_code.h

struct PhysRange {
  uint64_t first = 0;
  uint64_t last = 0;
  PhysPage page;
};

class Bus {
 public:
  virtual ~Bus() = default;

  // Guest-physical page lookup (gpa is page aligned). Called on soft-TLB
  // misses only, never per access.
  virtual PhysPage lookup(uint64_t gpa) = 0;

  // Record that the guest wrote the page at gpa (dirty logging). Called once
  // per page until generation() changes.
  virtual void mark_dirty(uint64_t gpa) = 0;

  // The run of pages around gpa (page aligned) that lookup() describes
  // alike; valid until generation() changes. The soft MMU caches the last
  // few so that page walks and TLB fills skip the slot search. The default
  // describes gpa's page alone.
  virtual PhysRange lookup_range(uint64_t gpa) { return PhysRange{gpa, gpa, lookup(gpa)}; }

  // The machine's registry of code pages shared by all its CPUs, for
  // cross-modifying code between vCPUs (cache/shared_code.h); nullptr for a
  // machine with a single CPU. Constant for the Bus's lifetime.
  virtual SharedCode* shared_code() { return nullptr; }

  // Bumped whenever cached translations may be stale: memslot changes,
  // dirty-log harvest. The engine flushes its soft TLB when it changes
  // (checked at block boundaries).
  virtual const std::atomic<uint64_t>& generation() const = 0;

  // Port I/O and MMIO handled inside the process (in-kernel devices,
  // ioeventfd). Return false when the access must become a KVM exit.
  virtual bool pio_in(uint16_t port, unsigned size, void* data) { (void)port; (void)size; (void)data; return false; }
  virtual bool pio_out(uint16_t port, unsigned size, const void* data) { (void)port; (void)size; (void)data; return false; }
  virtual bool mmio_read(uint64_t gpa, unsigned size, void* data) { (void)gpa; (void)size; (void)data; return false; }
  virtual bool mmio_write(uint64_t gpa, unsigned size, const void* data) { (void)gpa; (void)size; (void)data; return false; }

  // Guest RDMSR/WRMSR of an MSR the engine does not implement itself
  // (kvmclock, x2APIC, TSC_DEADLINE ...). Return false for an unknown MSR or
  // a rejected value: the guest gets #GP(0), as with KVM.
  virtual bool msr_read(uint32_t index, uint64_t* value) { (void)index; (void)value; return false; }
  virtual bool msr_write(uint32_t index, uint64_t value) { (void)index; (void)value; return false; }

  // The page (4096 bytes) where string/plain port I/O data is exchanged with
  // the client: the kvm_run PIO page. OUT data is written here before an I/O
  // exit; IN data is read from here when the exit completes.
  virtual uint8_t* pio_page() = 0;

  // CPUID as configured by KVM_SET_CPUID2 (leaf, subleaf -> eax..edx).
  virtual void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) = 0;

  // Free-running guest time base in TSC ticks (before the TSC offset).
  virtual uint64_t tsc() = 0;
};

}  // namespace skvm::cpu
