// vCPU fd ioctls (kvm_main.c: kvm_vcpu_ioctl; x86.c: kvm_arch_vcpu_ioctl).
// Each runs under the vCPU mutex, as in KVM (a concurrent caller blocks).
#include <linux/kvm.h>

#include <cerrno>
#include <cstddef>
#include <mutex>
#include <vector>

#include "abi/ioctl.h"
#include "abi/kvm_abi.h"
#include "abi/msr_io.h"
#include "abi/user_args.h"
#include "kvm/debug.h"
#include "kvm/limits.h"
#include "kvm/vcpu.h"
#include "kvm/xsave.h"

namespace skvm::abi {

namespace {

// cpuid.c: kvm_check_cpuid: 0x80000008 must describe 48- or 57-bit (or 0)
// linear addresses.
int check_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  for (const kvm_cpuid_entry2& e : entries) {
    if (e.function != 0x80000008) continue;
    const unsigned vaddr_bits = (e.eax >> 8) & 0xff;
    if (vaddr_bits != 48 && vaddr_bits != 57 && vaddr_bits != 0) return -EINVAL;
    break;
  }
  return 0;
}

// api.rst: KVM_SET_CPUID2.
int set_cpuid2(kvm::Vcpu& vcpu, unsigned long arg) {
  uint32_t nent = 0;  // kvm_cpuid2.nent (C layout: see kvm_abi.h)
  if (!read_arg(arg, &nent)) return -EFAULT;
  if (nent > kvm::kMaxCpuidEntries) return -E2BIG;
  std::vector<kvm_cpuid_entry2> entries(nent);
  if (!read_bytes(arg, kCpuid2Header, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2)))
    return -EFAULT;
  int r = check_cpuid(entries);
  if (r < 0) return r;
  return vcpu.set_cpuid(std::move(entries));
}

// api.rst: KVM_SET_CPUID (kvm_cpuid_entry: no index, no flags).
int set_cpuid1(kvm::Vcpu& vcpu, unsigned long arg) {
  uint32_t nent = 0;  // kvm_cpuid.nent (C layout: see kvm_abi.h)
  if (!read_arg(arg, &nent)) return -EFAULT;
  if (nent > kvm::kMaxCpuidEntries) return -E2BIG;
  std::vector<kvm_cpuid_entry> old(nent);
  if (!read_bytes(arg, kCpuidHeader, old.data(), old.size() * sizeof(kvm_cpuid_entry)))
    return -EFAULT;
  std::vector<kvm_cpuid_entry2> entries(nent);
  for (size_t i = 0; i < old.size(); ++i) {
    entries[i] = kvm_cpuid_entry2{};
    entries[i].function = old[i].function;
    entries[i].eax = old[i].eax;
    entries[i].ebx = old[i].ebx;
    entries[i].ecx = old[i].ecx;
    entries[i].edx = old[i].edx;
  }
  int r = check_cpuid(entries);
  if (r < 0) return r;
  return vcpu.set_cpuid(std::move(entries));
}

// api.rst: KVM_GET_CPUID2. cpuid.c: kvm_vcpu_ioctl_get_cpuid2 (E2BIG leaves
// the caller's nent alone).
int get_cpuid2(kvm::Vcpu& vcpu, unsigned long arg) {
  uint32_t nent = 0;  // kvm_cpuid2.nent (C layout: see kvm_abi.h)
  if (!read_arg(arg, &nent)) return -EFAULT;
  const auto& entries = vcpu.cpuid_entries();
  if (nent < entries.size()) return -E2BIG;
  if (!write_bytes(arg, kCpuid2Header, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2)))
    return -EFAULT;
  nent = static_cast<uint32_t>(entries.size());
  if (!write_arg(arg, nent)) return -EFAULT;
  return 0;
}

// api.rst: KVM_SET_SIGNAL_MASK: len must be the kernel's sigset size (8).
int set_signal_mask(kvm::Vcpu& vcpu, unsigned long arg) {
  if (arg == 0) {
    vcpu.set_signal_mask(nullptr);
    return 0;
  }
  uint32_t len = 0;  // kvm_signal_mask.len (C layout: see kvm_abi.h)
  if (!read_arg(arg, &len)) return -EFAULT;
  if (len != sizeof(uint64_t)) return -EINVAL;
  uint64_t mask = 0;
  if (!read_bytes(arg, kSignalMaskHeader, &mask, sizeof mask)) return -EFAULT;
  vcpu.set_signal_mask(&mask);
  return 0;
}

template <typename T, typename Get>
int get_struct(unsigned long arg, Get get) {
  T value{};
  get(&value);
  return write_arg(arg, value) ? 0 : -EFAULT;
}

}  // namespace

int vcpu_ioctl(Handle& h, unsigned long request, unsigned long arg) {
  kvm::Vcpu& vcpu = *h.vcpu;
  // kvm_vcpu_ioctl: anything that is not a KVM ioctl is EINVAL.
  if (_IOC_TYPE(request) != KVMIO) return -EINVAL;
  base::MutexLock lock(vcpu.mutex());
  switch (request) {
    case KVM_RUN:  // api.rst: KVM_RUN (the argument must be 0)
      return arg != 0 ? -EINVAL : vcpu.run();
    case KVM_GET_REGS:
      return get_struct<kvm_regs>(arg, [&](kvm_regs* r) { vcpu.get_regs(r); });
    case KVM_SET_REGS: {
      kvm_regs r{};
      if (!read_arg(arg, &r)) return -EFAULT;
      vcpu.set_regs(r);
      return 0;
    }
    case KVM_GET_SREGS:
      return get_struct<kvm_sregs>(arg, [&](kvm_sregs* r) { vcpu.get_sregs(r); });
    case KVM_SET_SREGS: {
      kvm_sregs r{};
      if (!read_arg(arg, &r)) return -EFAULT;
      return vcpu.set_sregs(r);
    }
    case KVM_GET_FPU:
      return get_struct<kvm_fpu>(arg, [&](kvm_fpu* f) { vcpu.get_fpu(f); });
    case KVM_SET_FPU: {
      kvm_fpu f{};
      if (!read_arg(arg, &f)) return -EFAULT;
      vcpu.set_fpu(f);
      return 0;
    }
    case kGetXsave:     // api.rst: KVM_GET_XSAVE
    case kGetXsave2: {  // api.rst: KVM_GET_XSAVE2 (KVM_CAP_XSAVE2 = 4096 bytes)
      uint8_t region[kXsaveSize];
      kvm::get_xsave(vcpu.cpu().state(), kvm::user_xfeatures(vcpu.cpuid_entries()), region, sizeof region);
      return write_bytes(arg, 0, region, sizeof region) ? 0 : -EFAULT;
    }
    case kSetXsave: {  // api.rst: KVM_SET_XSAVE
      uint8_t region[kXsaveSize];
      if (!read_bytes(arg, 0, region, sizeof region)) return -EFAULT;
      return kvm::set_xsave(vcpu.cpu().state(), kvm::user_xfeatures(vcpu.cpuid_entries()), region);
    }
    case KVM_GET_XCRS:  // api.rst: KVM_GET_XCRS
      return get_struct<kvm_xcrs>(arg, [&](kvm_xcrs* x) { kvm::get_xcrs(vcpu.cpu().state(), x); });
    case KVM_SET_XCRS: {  // api.rst: KVM_SET_XCRS
      kvm_xcrs x{};
      if (!read_arg(arg, &x)) return -EFAULT;
      return kvm::set_xcrs(vcpu.cpu().state(), kvm::guest_supported_xcr0(vcpu.cpuid_entries()), x);
    }
    case KVM_GET_MP_STATE:
      return get_struct<kvm_mp_state>(arg, [&](kvm_mp_state* m) { vcpu.get_mp_state(m); });
    case KVM_SET_MP_STATE: {
      kvm_mp_state m{};
      if (!read_arg(arg, &m)) return -EFAULT;
      return vcpu.set_mp_state(m);
    }
    case KVM_TRANSLATE: {
      kvm_translation tr{};
      if (!read_arg(arg, &tr)) return -EFAULT;
      vcpu.translate(&tr);
      return write_arg(arg, tr) ? 0 : -EFAULT;
    }
    case KVM_GET_VCPU_EVENTS:
      return get_struct<kvm_vcpu_events>(arg, [&](kvm_vcpu_events* e) { vcpu.get_events(e); });
    case KVM_SET_VCPU_EVENTS: {
      kvm_vcpu_events e{};
      if (!read_arg(arg, &e)) return -EFAULT;
      return vcpu.set_events(e);
    }
    case KVM_SET_GUEST_DEBUG: {  // api.rst: KVM_SET_GUEST_DEBUG (kvm/debug.h)
      kvm_guest_debug d{};
      if (!read_arg(arg, &d)) return -EFAULT;
      return kvm::set_guest_debug(vcpu.cpu(), d);
    }
    case KVM_GET_DEBUGREGS:  // api.rst: KVM_GET_DEBUGREGS
      return get_struct<kvm_debugregs>(arg, [&](kvm_debugregs* d) { kvm::get_debugregs(vcpu.cpu().state(), d); });
    case KVM_SET_DEBUGREGS: {  // api.rst: KVM_SET_DEBUGREGS
      kvm_debugregs d{};
      if (!read_arg(arg, &d)) return -EFAULT;
      return kvm::set_debugregs(vcpu.cpu().state(), d);
    }
    case KVM_INTERRUPT: {  // api.rst: KVM_INTERRUPT
      kvm_interrupt irq{};
      if (!read_arg(arg, &irq)) return -EFAULT;
      return vcpu.interrupt(irq.irq);
    }
    case KVM_NMI:  // api.rst: KVM_NMI
      return vcpu.nmi();
    case KVM_GET_LAPIC: {  // api.rst: KVM_GET_LAPIC
      kvm_lapic_state st{};
      int r = vcpu.get_lapic(&st);
      if (r < 0) return r;
      return write_arg(arg, st) ? 0 : -EFAULT;
    }
    case KVM_SET_LAPIC: {  // api.rst: KVM_SET_LAPIC
      kvm_lapic_state st{};
      if (!read_arg(arg, &st)) return -EFAULT;
      return vcpu.set_lapic(st);
    }
    case KVM_GET_TSC_KHZ:  // api.rst: KVM_GET_TSC_KHZ (the guest TSC rate, kHz)
      return static_cast<int>(vcpu.tsc_khz());
    case KVM_SET_TSC_KHZ:  // api.rst: KVM_SET_TSC_KHZ (the argument is the rate, kHz)
      return vcpu.set_tsc_khz(static_cast<uint32_t>(arg));
    case kSetSignalMask:  // KVM_SET_SIGNAL_MASK
      return set_signal_mask(vcpu, arg);
    case kGetMsrs:  // KVM_GET_MSRS
      return msr_io(arg, true, [&](kvm_msr_entry& e) {
        uint64_t v = 0;
        bool ok = vcpu.get_msr(e.index, &v);
        if (ok) e.data = v;
        return ok;
      });
    case kSetMsrs:  // KVM_SET_MSRS
      return msr_io(arg, false, [&](kvm_msr_entry& e) { return vcpu.set_msr(e.index, e.data); });
    case kSetCpuid:  // KVM_SET_CPUID
      return set_cpuid1(vcpu, arg);
    case kSetCpuid2:  // KVM_SET_CPUID2
      return set_cpuid2(vcpu, arg);
    case kGetCpuid2:  // KVM_GET_CPUID2
      return get_cpuid2(vcpu, arg);
    default:
      return -EINVAL;  // kvm_arch_vcpu_ioctl: unknown request
  }
}

}  // namespace skvm::abi
