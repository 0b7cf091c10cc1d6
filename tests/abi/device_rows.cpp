// Rows for the in-kernel devices' ioctls and vCPU event injection: the
// irqchip (PIC + IOAPIC), PIT, kvmclock, LAPIC, KVM_INTERRUPT, vCPU events.
// api.rst 4.24 (KVM_CREATE_IRQCHIP) .. 4.31 (KVM_GET_VCPU_EVENTS); errno
// values from arch/x86/kvm/x86.c (kvm_arch_vm_ioctl, kvm_arch_vcpu_ioctl).
#include "abi_row.h"

namespace skvm::test {
namespace {

void irqchip(AbiContext& c) { c.must(c.vm().vm_ioctl(KVM_CREATE_IRQCHIP, 0UL), "KVM_CREATE_IRQCHIP"); }

unsigned long chip(AbiContext& c, uint32_t id) {
  auto* k = c.make<kvm_irqchip>();
  k->chip_id = id;
  return addr(k);
}

unsigned long interrupt(AbiContext& c, uint32_t irq) {
  auto* i = c.make<kvm_interrupt>();
  i->irq = irq;
  return addr(i);
}

AbiRow vm(const char* name, unsigned long request, std::function<unsigned long(AbiContext&)> arg,
          int ret, int err, std::function<void(AbiContext&)> setup, int cap) {
  return {name, FdKind::kVm, request, std::move(arg), ret, err, nullptr, std::move(setup), cap};
}

AbiRow vcpu(const char* name, unsigned long request, std::function<unsigned long(AbiContext&)> arg,
            int ret, int err, std::function<void(AbiContext&)> setup = nullptr, int cap = -1,
            std::function<void(AbiContext&, Verdict&, int)> check = nullptr) {
  return {name, FdKind::kVcpu, request, std::move(arg), ret, err, std::move(check),
          std::move(setup), cap};
}

constexpr int kIrq = KVM_CAP_IRQCHIP;

}  // namespace

std::vector<AbiRow> device_rows() {
  return {
      vm("CreateIrqchipSucceeds", KVM_CREATE_IRQCHIP, nullptr, 0, 0, nullptr, kIrq),
      vm("CreateIrqchipTwiceIsEEXIST", KVM_CREATE_IRQCHIP, nullptr, -1, EEXIST, irqchip, kIrq),
      vm("CreateIrqchipAfterVcpuIsEINVAL", KVM_CREATE_IRQCHIP, nullptr, -1, EINVAL,
         [](AbiContext& c) { c.vcpu(); }, kIrq),
      vm("GetIrqchipWithoutIrqchipIsENXIO", KVM_GET_IRQCHIP,
         [](AbiContext& c) { return chip(c, 0); }, -1, ENXIO, nullptr, kIrq),
      vm("GetIrqchipPicMasterSucceeds", KVM_GET_IRQCHIP, [](AbiContext& c) { return chip(c, 0); },
         0, 0, irqchip, kIrq),
      vm("GetIrqchipIoapicSucceeds", KVM_GET_IRQCHIP, [](AbiContext& c) { return chip(c, 2); }, 0,
         0, irqchip, kIrq),
      vm("GetIrqchipBadChipIdIsEINVAL", KVM_GET_IRQCHIP, [](AbiContext& c) { return chip(c, 3); },
         -1, EINVAL, irqchip, kIrq),
      vm("CreatePit2Succeeds", KVM_CREATE_PIT2,
         [](AbiContext& c) { return addr(c.make<kvm_pit_config>()); }, 0, 0, irqchip,
         KVM_CAP_PIT2),
      vm("CreatePit2TwiceIsEEXIST", KVM_CREATE_PIT2,
         [](AbiContext& c) { return addr(c.make<kvm_pit_config>()); }, -1, EEXIST,
         [](AbiContext& c) {
           irqchip(c);
           c.must(c.vm().vm_ioctl(KVM_CREATE_PIT2, c.make<kvm_pit_config>()), "KVM_CREATE_PIT2");
         },
         KVM_CAP_PIT2),
      vm("IrqLineWithoutIrqchipIsENXIO", KVM_IRQ_LINE,
         [](AbiContext& c) { return addr(c.make<kvm_irq_level>()); }, -1, ENXIO, nullptr, kIrq),
      vm("IrqLineStatusWithoutIrqchipIsENXIO", KVM_IRQ_LINE_STATUS,
         [](AbiContext& c) { return addr(c.make<kvm_irq_level>()); }, -1, ENXIO, nullptr,
         KVM_CAP_IRQ_INJECT_STATUS),
      vm("IrqLineWithIrqchipSucceeds", KVM_IRQ_LINE,
         [](AbiContext& c) {
           auto* l = c.make<kvm_irq_level>();
           l->irq = 4;
           l->level = 1;
           return addr(l);
         },
         0, 0, irqchip, kIrq),
      vm("CreatePit2WithoutIrqchipIsENOENT", KVM_CREATE_PIT2,
         [](AbiContext& c) { return addr(c.make<kvm_pit_config>()); }, -1, ENOENT, nullptr,
         KVM_CAP_PIT2),
      vm("GetPit2WithoutPitIsENXIO", KVM_GET_PIT2,
         [](AbiContext& c) { return addr(c.make<kvm_pit_state2>()); }, -1, ENXIO, irqchip,
         KVM_CAP_PIT_STATE2),
      vm("ReinjectControlWithoutPitIsENXIO", KVM_REINJECT_CONTROL,
         [](AbiContext& c) { return addr(c.make<kvm_reinject_control>()); }, -1, ENXIO, irqchip,
         KVM_CAP_REINJECT_CONTROL),
      vm("SignalMsiWithoutIrqchipIsEINVAL", KVM_SIGNAL_MSI,
         [](AbiContext& c) { return addr(c.make<kvm_msi>()); }, -1, EINVAL, nullptr,
         KVM_CAP_SIGNAL_MSI),
      vm("IrqfdWithoutIrqchipIsEINVAL", KVM_IRQFD,
         [](AbiContext& c) { return addr(c.make<kvm_irqfd>()); }, -1, EINVAL, nullptr,
         KVM_CAP_IRQFD),
      vm("IoeventfdLength3IsEINVAL", KVM_IOEVENTFD,
         [](AbiContext& c) {
           auto* e = c.make<kvm_ioeventfd>();
           e->len = 3;
           return addr(e);
         },
         -1, EINVAL, nullptr, KVM_CAP_IOEVENTFD),
      vm("IoeventfdDeassignOfBadFdIsEBADF", KVM_IOEVENTFD,
         [](AbiContext& c) {
           auto* e = c.make<kvm_ioeventfd>();
           e->len = 1;
           e->fd = -1;
           e->flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
           return addr(e);
         },
         -1, EBADF, nullptr, KVM_CAP_IOEVENTFD),
      vm("GetClockSucceeds", KVM_GET_CLOCK,
         [](AbiContext& c) { return addr(c.make<kvm_clock_data>()); }, 0, 0, nullptr,
         KVM_CAP_ADJUST_CLOCK),
      vm("SetClockUnknownFlagIsEINVAL", KVM_SET_CLOCK,
         [](AbiContext& c) {
           auto* d = c.make<kvm_clock_data>();
           d->flags = 0x80000000;
           return addr(d);
         },
         -1, EINVAL, nullptr, KVM_CAP_ADJUST_CLOCK),
      vm("EnableCapUnknownIsEINVAL", KVM_ENABLE_CAP,
         [](AbiContext& c) {
           auto* e = c.make<kvm_enable_cap>();
           e->cap = 0x7fffffff;
           return addr(e);
         },
         -1, EINVAL, nullptr, KVM_CAP_ENABLE_CAP_VM),
      vcpu("GetLapicWithoutIrqchipIsEINVAL", KVM_GET_LAPIC,
           [](AbiContext& c) { return addr(c.make<kvm_lapic_state>()); }, -1, EINVAL),
      vcpu("GetLapicWithIrqchipSucceedsWithApicId0", KVM_GET_LAPIC,
           [](AbiContext& c) { return addr(c.make<kvm_lapic_state>()); }, 0, 0, irqchip, kIrq,
           [](AbiContext& c, Verdict& v, int) {
             // SDM Vol. 3A, 11.4.6: the APIC ID register (offset 0x20), bits 31:24.
             v.expect_eq(int{static_cast<uint8_t>(c.arg_as<kvm_lapic_state>()->regs[0x23])}, 0,
                         "APIC ID");
           }),
      vcpu("InterruptVector256IsEINVAL", KVM_INTERRUPT, [](AbiContext& c) { return interrupt(c, 256); },
           -1, EINVAL),
      vcpu("InterruptWithoutIrqchipSucceeds", KVM_INTERRUPT,
           [](AbiContext& c) { return interrupt(c, 32); }, 0, 0),
      vcpu("InterruptWithInKernelPicIsENXIO", KVM_INTERRUPT,
           [](AbiContext& c) { return interrupt(c, 32); }, -1, ENXIO, irqchip, kIrq),
      vcpu("GetVcpuEventsSucceeds", KVM_GET_VCPU_EVENTS,
           [](AbiContext& c) { return addr(c.make<kvm_vcpu_events>()); }, 0, 0),
      vcpu("SetVcpuEventsUnknownFlagIsEINVAL", KVM_SET_VCPU_EVENTS,
           [](AbiContext& c) {
             auto* e = c.make<kvm_vcpu_events>();
             e->flags = 0x80000000;
             return addr(e);
           },
           -1, EINVAL),
  };
}

}  // namespace skvm::test
