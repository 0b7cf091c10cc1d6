// VM fd ioctls (kvm_main.c: kvm_vm_ioctl; x86.c: kvm_arch_vm_ioctl).
#include <linux/ioctl.h>
#include <linux/kvm.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "abi/ioctl.h"
#include "abi/user_args.h"
#include "kvm/irqchip/irqchip.h"
#include "kvm/irqchip/pit.h"
#include "kvm/irqchip/routing.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

namespace skvm::abi {

namespace {

// api.rst: KVM_CREATE_VCPU.
int create_vcpu(FdTable& table, Handle& h, unsigned long id) {
  kvm::Vcpu* vcpu = nullptr;
  int fd = -1;
  int r = h.vm->create_vcpu(id, &vcpu, &fd);
  if (r < 0) return r;
  auto vh = std::make_shared<Handle>();
  vh->kind = Kind::kVcpu;
  vh->system = h.system;
  vh->vm = h.vm;
  vh->vcpu = vcpu;
  return install_new(table, "kvm-vcpu", std::move(vh), fd);
}

// api.rst: KVM_GET_DIRTY_LOG.
int get_dirty_log(kvm::Vm& vm, unsigned long arg) {
  kvm_dirty_log log{};
  if (!read_arg(arg, &log)) return -EFAULT;
  std::vector<uint64_t> bits;
  int r = vm.memslots().get_dirty_log(log.slot, &bits);
  if (r < 0) return r;
  if (!base::copy_to_user(log.dirty_bitmap, bits.data(), bits.size() * sizeof(uint64_t))) return -EFAULT;
  return 0;
}

// api.rst: KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS (kvm_main.c; x86.c:
// kvm_vm_ioctl_irq_line). The status is written back only for _STATUS.
int irq_line(kvm::Vm& vm, unsigned long arg, bool with_status) {
  kvm_irq_level event{};
  if (!read_arg(arg, &event)) return -EFAULT;
  int r = vm.set_irq(event.irq, static_cast<int>(event.level), with_status);
  if (r == -ENXIO && !vm.irqchip_in_kernel()) return -ENXIO;
  event.status = r;
  if (with_status && !write_arg(arg, event)) return -EFAULT;
  return 0;
}

// api.rst: KVM_GET_IRQCHIP / KVM_SET_IRQCHIP (x86.c: the copy comes
// first, then ENXIO without an in-kernel irqchip, then EINVAL for chip_id).
int irqchip_state(kvm::Vm& vm, unsigned long arg, bool set) {
  kvm_irqchip chip{};
  if (!read_arg(arg, &chip)) return -EFAULT;
  kvm::irq::Irqchip* ic = vm.irqchip();
  if (!ic) return -ENXIO;
  if (set) return ic->set_chip(chip);
  int r = ic->get_chip(&chip);
  if (r) return r;
  return write_arg(arg, chip) ? 0 : -EFAULT;
}

// kvm_irq_routing ends in a __DECLARE_FLEX_ARRAY (kvm_abi.h): its C
// header is 8 bytes (nr, flags) and the request number is built from that.
constexpr size_t kIrqRoutingHeader = 8;
constexpr unsigned long kSetGsiRouting = _IOC(_IOC_WRITE, KVMIO, 0x6a, kIrqRoutingHeader);

// api.rst: KVM_SET_GSI_ROUTING (kvm_main.c: kvm_vm_ioctl).
int set_gsi_routing(kvm::Vm& vm, unsigned long arg) {
  struct {
    uint32_t nr;
    uint32_t flags;
  } header{};
  if (!read_arg(arg, &header)) return -EFAULT;
  kvm::irq::Irqchip* ic = vm.irqchip();
  if (!ic) return -EINVAL;  // kvm_arch_can_set_irq_routing
  if (header.nr > kvm::irq::kMaxIrqRoutes || header.flags) return -EINVAL;
  std::vector<kvm_irq_routing_entry> entries(header.nr);
  if (header.nr &&
      !read_bytes(arg, kIrqRoutingHeader, entries.data(), entries.size() * sizeof(entries[0])))
    return -EFAULT;
  return ic->set_routing(entries.data(), header.nr);
}

// api.rst: KVM_SIGNAL_MSI (irqchip.c: kvm_send_userspace_msi).
int signal_msi(kvm::Vm& vm, unsigned long arg) {
  kvm_msi msi{};
  if (!read_arg(arg, &msi)) return -EFAULT;
  kvm::irq::Irqchip* ic = vm.irqchip();
  if (!ic) return -EINVAL;
  return ic->signal_msi(msi);
}

// api.rst: KVM_GET_PIT2 / KVM_SET_PIT2 / KVM_GET_PIT / KVM_SET_PIT
// (x86.c: GET_PIT2 does not read the argument; the others copy it first).
int pit_state(kvm::Vm& vm, unsigned long request, unsigned long arg) {
  kvm_pit_state2 st{};
  switch (request) {
    case KVM_GET_PIT2:
      if (!vm.pit()) return -ENXIO;
      vm.pit()->get_state(&st);
      return write_arg(arg, st) ? 0 : -EFAULT;
    case KVM_GET_PIT: {
      kvm_pit_state old{};
      if (!read_arg(arg, &old)) return -EFAULT;
      if (!vm.pit()) return -ENXIO;
      vm.pit()->get_state(&st);
      std::memcpy(old.channels, st.channels, sizeof(old.channels));
      return write_arg(arg, old) ? 0 : -EFAULT;
    }
    case KVM_SET_PIT2:
      if (!read_arg(arg, &st)) return -EFAULT;
      if (!vm.pit()) return -ENXIO;
      vm.pit()->set_state(st);
      return 0;
    default: {  // KVM_SET_PIT: the channels, flags kept
      kvm_pit_state old{};
      if (!read_arg(arg, &old)) return -EFAULT;
      if (!vm.pit()) return -ENXIO;
      vm.pit()->get_state(&st);
      std::memcpy(st.channels, old.channels, sizeof(old.channels));
      vm.pit()->set_state(st);
      return 0;
    }
  }
}

}  // namespace

int vm_ioctl(FdTable& table, Handle& h, unsigned long request, unsigned long arg) {
  kvm::Vm& vm = *h.vm;
  switch (request) {
    case KVM_CREATE_VCPU:
      return create_vcpu(table, h, arg);
    case KVM_SET_USER_MEMORY_REGION: {  // api.rst: KVM_SET_USER_MEMORY_REGION
      kvm_userspace_memory_region mem{};
      if (!read_arg(arg, &mem)) return -EFAULT;
      return vm.memslots().set(mem);
    }
    case KVM_GET_DIRTY_LOG:
      return get_dirty_log(vm, arg);
    case KVM_CHECK_EXTENSION:  // api.rst: KVM_CHECK_EXTENSION on a VM fd
      return static_cast<int>(vm.system().check_extension(static_cast<long>(arg)));
    case KVM_SET_TSS_ADDR:  // api.rst: KVM_SET_TSS_ADDR
      return vm.set_tss_addr(arg);
    case KVM_SET_IDENTITY_MAP_ADDR: {  // api.rst: KVM_SET_IDENTITY_MAP_ADDR
      // x86.c: EINVAL (vCPUs exist) is checked before the copy.
      if (vm.vcpu_count() != 0) return -EINVAL;
      uint64_t addr = 0;
      if (!read_arg(arg, &addr)) return -EFAULT;
      return vm.set_identity_map_addr(addr);
    }
    case KVM_ENABLE_CAP: {  // api.rst: KVM_ENABLE_CAP (VM)
      // kvm_vm_ioctl_enable_cap(_generic): no VM capability can be enabled
      // in softkvm yet, and flags must be 0: every request is EINVAL.
      kvm_enable_cap cap{};
      if (!read_arg(arg, &cap)) return -EFAULT;
      return -EINVAL;
    }
    case KVM_CREATE_IRQCHIP:  // api.rst: KVM_CREATE_IRQCHIP
      return vm.create_irqchip();
    case KVM_IRQ_LINE:
      return irq_line(vm, arg, false);
    case KVM_IRQ_LINE_STATUS:
      return irq_line(vm, arg, true);
    case KVM_GET_IRQCHIP:
      return irqchip_state(vm, arg, false);
    case KVM_SET_IRQCHIP:
      return irqchip_state(vm, arg, true);
    case kSetGsiRouting:
      return set_gsi_routing(vm, arg);
    case KVM_SIGNAL_MSI:
      return signal_msi(vm, arg);
    case KVM_CREATE_PIT2: {  // api.rst: KVM_CREATE_PIT2
      kvm_pit_config config{};
      if (!read_arg(arg, &config)) return -EFAULT;
      return vm.create_pit2(config.flags);
    }
    case KVM_CREATE_PIT:  // x86.c: KVM_CREATE_PIT is PIT2 with the speaker port
      return vm.create_pit2(KVM_PIT_SPEAKER_DUMMY);
    case KVM_GET_PIT2:
    case KVM_SET_PIT2:
    case KVM_GET_PIT:
    case KVM_SET_PIT:
      return pit_state(vm, request, arg);
    case KVM_IOEVENTFD: {  // api.rst: KVM_IOEVENTFD
      kvm_ioeventfd args{};
      if (!read_arg(arg, &args)) return -EFAULT;
      return vm.ioeventfd(args);
    }
    case KVM_IRQFD: {  // api.rst: KVM_IRQFD
      kvm_irqfd args{};
      if (!read_arg(arg, &args)) return -EFAULT;
      return vm.irqfd(args);
    }
    case KVM_GET_TSC_KHZ:  // api.rst: KVM_GET_TSC_KHZ (VM: the rate of new vCPUs)
      return static_cast<int>(vm.kvmclock().default_tsc_khz());
    case KVM_SET_TSC_KHZ:  // api.rst: KVM_SET_TSC_KHZ (VM, KVM_CAP_VM_TSC_CONTROL)
      return vm.kvmclock().set_default_tsc_khz(static_cast<uint32_t>(arg));
    case KVM_GET_CLOCK: {  // api.rst: KVM_GET_CLOCK (kvm/kvmclock.h)
      kvm_clock_data data{};
      vm.kvmclock().get(&data);
      return write_arg(arg, data) ? 0 : -EFAULT;
    }
    case KVM_SET_CLOCK: {  // api.rst: KVM_SET_CLOCK
      kvm_clock_data data{};
      if (!read_arg(arg, &data)) return -EFAULT;
      return vm.kvmclock().set(data);
    }
    case KVM_REINJECT_CONTROL: {  // api.rst: KVM_REINJECT_CONTROL
      kvm_reinject_control control{};
      if (!read_arg(arg, &control)) return -EFAULT;
      if (!vm.pit()) return -ENXIO;
      vm.pit()->set_reinject(control.pit_reinject != 0);
      return 0;
    }
    default:
      return -ENOTTY;  // kvm_arch_vm_ioctl: unknown request
  }
}

}  // namespace skvm::abi
