// The VM-wide in-kernel devices seen from a client, on both backends
// (softkvm and the host /dev/kvm, same literal expectations): reset state
// and KVM_GET/SET_IRQCHIP round trips, KVM_IRQ_LINE_STATUS values,
// KVM_SET_GSI_ROUTING / KVM_SIGNAL_MSI rules, KVM_CREATE_PIT2 and
// KVM_GET/SET_PIT2, KVM_IOEVENTFD and KVM_IRQFD errno rules, and a real-mode
// guest whose PIC interrupt comes from an irqfd signalled by another thread
// while an ioeventfd absorbs one of its port writes.
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "vm.h"

namespace skvm::test {
namespace {

class IrqchipClient : public testing::TestWithParam<const Backend*> {};

struct Efd {
  Efd() : fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Efd() { close(fd); }
  uint64_t take() const {
    uint64_t v = 0;
    return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
  }
  int fd;
};

int line_status(Vm& vm, uint32_t irq, uint32_t level) {
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level;
  Result r = vm.vm_ioctl(KVM_IRQ_LINE_STATUS, &l);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  return l.status;
}

kvm_irqchip get_chip(Vm& vm, uint32_t id) {
  kvm_irqchip c{};
  c.chip_id = id;
  Result r = vm.vm_ioctl(KVM_GET_IRQCHIP, &c);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  return c;
}

// KVM_SET_GSI_ROUTING with `n` entries.
Result set_routing(Vm& vm, const std::vector<kvm_irq_routing_entry>& entries, uint32_t flags = 0) {
  std::vector<uint8_t> buf(sizeof(kvm_irq_routing) + entries.size() * sizeof(kvm_irq_routing_entry));
  auto* r = reinterpret_cast<kvm_irq_routing*>(buf.data());
  r->nr = static_cast<uint32_t>(entries.size());
  r->flags = flags;
  if (!entries.empty())
    std::memcpy(buf.data() + sizeof(kvm_irq_routing), entries.data(),
                entries.size() * sizeof(kvm_irq_routing_entry));
  return vm.vm_ioctl(KVM_SET_GSI_ROUTING, buf.data());
}

kvm_irq_routing_entry ioapic_route(uint32_t gsi, uint32_t pin) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_IRQCHIP;
  e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
  e.u.irqchip.pin = pin;
  return e;
}

#define OPEN_VM(b, vm)                            \
  SKVM_SKIP_IF_UNUSABLE(b);                       \
  Vm vm(b);                                       \
  ASSERT_TRUE(vm.error().empty()) << vm.error();

TEST_P(IrqchipClient, ResetStateIsKvms) {
  OPEN_VM(*GetParam(), vm);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  kvm_irqchip m = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
  kvm_irqchip s = get_chip(vm, KVM_IRQCHIP_PIC_SLAVE);
  EXPECT_EQ(m.chip.pic.elcr_mask, 0xf8);
  EXPECT_EQ(s.chip.pic.elcr_mask, 0xde);
  EXPECT_EQ(m.chip.pic.imr, 0);
  EXPECT_EQ(m.chip.pic.init_state, 0);
  kvm_irqchip io = get_chip(vm, KVM_IRQCHIP_IOAPIC);
  EXPECT_EQ(io.chip.ioapic.base_address, 0xfec00000u);
  EXPECT_EQ(io.chip.ioapic.id, 0u);
  EXPECT_EQ(io.chip.ioapic.irr, 0u);
  for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++) EXPECT_EQ(io.chip.ioapic.redirtbl[i].bits, 0x10000u) << i;
}

TEST_P(IrqchipClient, SetIrqchipRoundTripsPicAndIoapicState) {
  OPEN_VM(*GetParam(), vm);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  kvm_irqchip m = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
  m.chip.pic.imr = 0xfb;
  m.chip.pic.irq_base = 0x20;
  m.chip.pic.elcr = 0x20;
  m.chip.pic.auto_eoi = 1;
  m.chip.pic.priority_add = 3;
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_IRQCHIP, &m).ret, 0);
  kvm_irqchip m2 = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
  EXPECT_EQ(std::memcmp(&m.chip.pic, &m2.chip.pic, sizeof(m.chip.pic)), 0);

  kvm_irqchip io = get_chip(vm, KVM_IRQCHIP_IOAPIC);
  io.chip.ioapic.id = 5;
  io.chip.ioapic.ioregsel = 0x12;
  io.chip.ioapic.redirtbl[3].bits = 0x0300000000008031ull;  // level, vector 0x31
  io.chip.ioapic.redirtbl[9].bits = 0x10041ull;             // masked
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_IRQCHIP, &io).ret, 0);
  kvm_irqchip io2 = get_chip(vm, KVM_IRQCHIP_IOAPIC);
  EXPECT_EQ(io2.chip.ioapic.id, 5u);
  EXPECT_EQ(io2.chip.ioapic.ioregsel, 0x12u);
  EXPECT_EQ(io2.chip.ioapic.redirtbl[3].bits, 0x0300000000008031ull);
  EXPECT_EQ(io2.chip.ioapic.redirtbl[9].bits, 0x10041ull);
}

TEST_P(IrqchipClient, SetIrqchipWithoutIrqchipIsENXIOAndBadChipIsEINVAL) {
  OPEN_VM(*GetParam(), vm);
  kvm_irqchip c{};
  Result r = vm.vm_ioctl(KVM_SET_IRQCHIP, &c);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, ENXIO);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  c.chip_id = 7;
  r = vm.vm_ioctl(KVM_SET_IRQCHIP, &c);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
}

TEST_P(IrqchipClient, IrqLineStatusReportsPicDeliveryMaskingAndCoalescing) {
  OPEN_VM(*GetParam(), vm);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  // GSI 4: PIC (unmasked at creation) delivers, IOAPIC pin masked.
  EXPECT_EQ(line_status(vm, 4, 1), 1);
  EXPECT_EQ(line_status(vm, 4, 0), 2);  // both chips report the low level
  EXPECT_EQ(line_status(vm, 4, 1), 0);  // new edge, IRR still set
  // GSI 20: IOAPIC only, masked.
  EXPECT_EQ(line_status(vm, 20, 1), -1);
  // Unrouted GSI.
  EXPECT_EQ(line_status(vm, 100, 1), -1);
  kvm_irqchip m = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
  EXPECT_EQ(m.chip.pic.irr, 0x10);
  kvm_irqchip io = get_chip(vm, KVM_IRQCHIP_IOAPIC);
  EXPECT_EQ(io.chip.ioapic.irr, (1u << 4) | (1u << 20));
}

TEST_P(IrqchipClient, MaskedPicIrqStatusIsMinusOne) {
  OPEN_VM(*GetParam(), vm);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  kvm_irqchip m = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
  m.chip.pic.imr = 0xff;
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_IRQCHIP, &m).ret, 0);
  EXPECT_EQ(line_status(vm, 3, 1), -1);
}

TEST_P(IrqchipClient, GsiRoutingRules) {
  OPEN_VM(*GetParam(), vm);
  Result r = set_routing(vm, {ioapic_route(1, 1)});
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);  // no irqchip
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  EXPECT_EQ(set_routing(vm, {ioapic_route(1, 1)}, 1).err, EINVAL);  // flags
  EXPECT_EQ(set_routing(vm, {ioapic_route(1, 24)}).err, EINVAL);   // pin
  EXPECT_EQ(set_routing(vm, {ioapic_route(4096, 1)}).err, EINVAL); // gsi
  EXPECT_EQ(set_routing(vm, {ioapic_route(5, 1), ioapic_route(5, 2)}).err, EINVAL);
  kvm_irq_routing_entry msi{};
  msi.gsi = 40;
  msi.type = KVM_IRQ_ROUTING_MSI;
  msi.u.msi.address_lo = 0xfee00000;
  msi.u.msi.data = 0x30;
  EXPECT_EQ(set_routing(vm, {ioapic_route(0, 2), msi}).ret, 0);
  // The new table replaced the default one: GSI 4 is unrouted now, GSI 0
  // reaches IOAPIC pin 2 only, the MSI finds no vCPU.
  EXPECT_EQ(line_status(vm, 4, 1), -1);
  EXPECT_EQ(line_status(vm, 0, 1), -1);
  EXPECT_EQ(get_chip(vm, KVM_IRQCHIP_IOAPIC).chip.ioapic.irr, 1u << 2);
  EXPECT_EQ(line_status(vm, 40, 1), -1);
  EXPECT_EQ(set_routing(vm, {}).ret, 0);
}

TEST_P(IrqchipClient, SignalMsiNeedsIrqchipAndValidFlags) {
  OPEN_VM(*GetParam(), vm);
  kvm_msi msi{};
  msi.address_lo = 0xfee00000;
  msi.data = 0x30;
  Result r = vm.vm_ioctl(KVM_SIGNAL_MSI, &msi);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  msi.flags = 2;
  r = vm.vm_ioctl(KVM_SIGNAL_MSI, &msi);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
  msi.flags = 0;
  r = vm.vm_ioctl(KVM_SIGNAL_MSI, &msi);  // no LAPIC to take it: -1 (EPERM)
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EPERM);
}

TEST_P(IrqchipClient, Pit2StateAtResetAndRoundTrip) {
  OPEN_VM(*GetParam(), vm);
  kvm_pit_state2 st{};
  Result r = vm.vm_ioctl(KVM_GET_PIT2, &st);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, ENXIO);
  kvm_reinject_control rc{};
  EXPECT_EQ(vm.vm_ioctl(KVM_REINJECT_CONTROL, &rc).err, ENXIO);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  kvm_pit_config cfg{};
  cfg.flags = KVM_PIT_SPEAKER_DUMMY;
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_PIT2, &cfg).ret, 0);
  ASSERT_EQ(vm.vm_ioctl(KVM_GET_PIT2, &st).ret, 0);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(st.channels[i].mode, 0xff) << i;
    EXPECT_EQ(st.channels[i].count, 0x10000u) << i;
    EXPECT_EQ(st.channels[i].gate, i != 2) << i;
    EXPECT_EQ(st.channels[i].rw_mode, 0) << i;
  }
  EXPECT_EQ(st.flags, 0u);
  st.channels[1].mode = 2;
  st.channels[1].count = 1000;
  st.channels[1].rw_mode = 3;
  st.channels[1].read_state = 3;
  st.channels[1].write_state = 3;
  st.channels[2].gate = 1;
  st.flags = KVM_PIT_FLAGS_SPEAKER_DATA_ON;
  ASSERT_EQ(vm.vm_ioctl(KVM_SET_PIT2, &st).ret, 0);
  kvm_pit_state2 st2{};
  ASSERT_EQ(vm.vm_ioctl(KVM_GET_PIT2, &st2).ret, 0);
  EXPECT_EQ(st2.channels[1].mode, 2);
  EXPECT_EQ(st2.channels[1].count, 1000u);
  EXPECT_EQ(st2.channels[1].rw_mode, 3);
  EXPECT_EQ(st2.channels[2].gate, 1);
  EXPECT_EQ(st2.flags, static_cast<uint32_t>(KVM_PIT_FLAGS_SPEAKER_DATA_ON));
  EXPECT_GE(st2.channels[1].count_load_time, st.channels[1].count_load_time);
  rc.pit_reinject = 0;
  EXPECT_EQ(vm.vm_ioctl(KVM_REINJECT_CONTROL, &rc).ret, 0);
}

TEST_P(IrqchipClient, CreatePit2WithoutIrqchipIsENOENTAndUnknownFlagsAreAccepted) {
  OPEN_VM(*GetParam(), vm);
  kvm_pit_config cfg{};
  Result r = vm.vm_ioctl(KVM_CREATE_PIT2, &cfg);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, ENOENT);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  cfg.flags = 0x80;
  r = vm.vm_ioctl(KVM_CREATE_PIT2, &cfg);
  EXPECT_EQ(r.ret, 0) << errno_string(r.err);
  r = vm.vm_ioctl(KVM_CREATE_PIT, 0UL);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EEXIST);
}

kvm_ioeventfd ioev(int fd, uint64_t addr, uint32_t len, uint32_t flags, uint64_t match = 0) {
  kvm_ioeventfd a{};
  a.fd = fd;
  a.addr = addr;
  a.len = len;
  a.flags = flags;
  a.datamatch = match;
  return a;
}

TEST_P(IrqchipClient, IoeventfdErrnoRules) {
  OPEN_VM(*GetParam(), vm);
  Efd e, f;
  constexpr uint32_t kPio = KVM_IOEVENTFD_FLAG_PIO;
  auto call = [&](kvm_ioeventfd a) { return vm.vm_ioctl(KVM_IOEVENTFD, &a); };
  EXPECT_EQ(call(ioev(e.fd, 0x510, 3, kPio)).err, EINVAL);
  EXPECT_EQ(call(ioev(e.fd, 0x510, 0, kPio | KVM_IOEVENTFD_FLAG_DATAMATCH)).err, EINVAL);
  EXPECT_EQ(call(ioev(e.fd, 0x510, 1, 1u << 8)).err, EINVAL);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(call(ioev(p[0], 0x510, 1, kPio)).err, EINVAL);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(call(ioev(p[0], 0x510, 1, kPio)).err, EBADF);
  EXPECT_EQ(call(ioev(e.fd, 0x510, 1, kPio)).ret, 0);
  EXPECT_EQ(call(ioev(f.fd, 0x510, 1, kPio)).err, EEXIST);
  EXPECT_EQ(call(ioev(f.fd, 0x510, 2, kPio)).ret, 0);  // other length
  EXPECT_EQ(call(ioev(e.fd, 0x511, 1, kPio | KVM_IOEVENTFD_FLAG_DEASSIGN)).err, ENOENT);
  EXPECT_EQ(call(ioev(e.fd, 0x510, 1, kPio | KVM_IOEVENTFD_FLAG_DEASSIGN)).ret, 0);
  EXPECT_EQ(call(ioev(e.fd, 0x510, 1, kPio | KVM_IOEVENTFD_FLAG_DEASSIGN)).err, ENOENT);
  EXPECT_EQ(call(ioev(e.fd, 0xd0000000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 1)).ret, 0);
  EXPECT_EQ(call(ioev(f.fd, 0xd0000000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 2)).ret, 0);
  EXPECT_EQ(call(ioev(f.fd, 0xd0000000, 0, 0)).err, EEXIST);
}

kvm_irqfd irqfd(int fd, uint32_t gsi, uint32_t flags, int resamplefd = 0) {
  kvm_irqfd a{};
  a.fd = static_cast<uint32_t>(fd);
  a.gsi = gsi;
  a.flags = flags;
  a.resamplefd = static_cast<uint32_t>(resamplefd);
  return a;
}

TEST_P(IrqchipClient, IrqfdErrnoRules) {
  OPEN_VM(*GetParam(), vm);
  Efd e, f, r;
  auto call = [&](kvm_irqfd a) { return vm.vm_ioctl(KVM_IRQFD, &a); };
  EXPECT_EQ(call(irqfd(e.fd, 5, 0)).err, EINVAL);  // no irqchip
  EXPECT_EQ(call(irqfd(e.fd, 5, KVM_IRQFD_FLAG_DEASSIGN)).ret, 0);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  EXPECT_EQ(call(irqfd(e.fd, 5, 4)).err, EINVAL);  // unknown flag
  EXPECT_EQ(call(irqfd(-1, 5, 0)).err, EBADF);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_EQ(call(irqfd(p[0], 5, 0)).err, EINVAL);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(call(irqfd(e.fd, 5, 0)).ret, 0);
  EXPECT_EQ(call(irqfd(e.fd, 6, 0)).err, EBUSY);
  EXPECT_EQ(call(irqfd(f.fd, 10, KVM_IRQFD_FLAG_RESAMPLE, r.fd)).ret, 0);
  EXPECT_EQ(call(irqfd(e.fd, 6, KVM_IRQFD_FLAG_DEASSIGN)).ret, 0);  // no match: still 0
  EXPECT_EQ(call(irqfd(e.fd, 5, KVM_IRQFD_FLAG_DEASSIGN)).ret, 0);
  EXPECT_EQ(call(irqfd(e.fd, 6, 0)).ret, 0);  // free again
}

// Real mode at 0x7c00, IVT[0x24] -> 0000:0x7d00:
//   PIC: ICW1 0x11, ICW2 0x20, ICW3 0x04, ICW4 0x01, OCW1 0xef (IRQ 4 only)
//   mov al, 7 ; out 0x90, al     ; absorbed by an ioeventfd (no exit)
//   out 0x80, al                 ; exit: ready
//   sti ; .h: hlt ; jmp .h
// 0x7d00: mov al, 0x20 ; out 0x20, al (EOI) ; mov al, 0x42 ; out 0x81, al ; iret
constexpr uint8_t kPicGuest[] = {0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, 0xb0, 0x04,
                                 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xef, 0xe6, 0x21,
                                 0xb0, 0x07, 0xe6, 0x90, 0xe6, 0x80, 0xfb, 0xf4, 0xeb, 0xfd};
constexpr uint8_t kPicHandler[] = {0xb0, 0x20, 0xe6, 0x20, 0xb0, 0x42, 0xe6, 0x81, 0xcf};

TEST_P(IrqchipClient, IrqfdFromAnotherThreadRunsGuestPicHandlerAndIoeventfdAbsorbsWrite) {
  const Backend& b = *GetParam();
  OPEN_VM(b, vm);
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  ASSERT_EQ(v->set_supported_cpuid(), "");
  std::memcpy(ram + 0x7c00, kPicGuest, sizeof kPicGuest);
  std::memcpy(ram + 0x7d00, kPicHandler, sizeof kPicHandler);
  const uint16_t ivt[2] = {0x7d00, 0};
  std::memcpy(ram + 0x24 * 4, ivt, sizeof ivt);
  ASSERT_EQ(v->enter_mode(Mode::kReal, 0x7c00), "");
  Efd io, irq;
  kvm_ioeventfd a = ioev(io.fd, 0x90, 1, KVM_IOEVENTFD_FLAG_PIO);
  ASSERT_EQ(vm.vm_ioctl(KVM_IOEVENTFD, &a).ret, 0);
  kvm_irqfd f = irqfd(irq.fd, 4, 0);
  ASSERT_EQ(vm.vm_ioctl(KVM_IRQFD, &f).ret, 0);

  kvm_run* run = v->run();
  ASSERT_EQ(v->ioctl(KVM_RUN, 0UL).ret, 0);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(run->io.port, 0x80);
  EXPECT_EQ(io.take(), 1u);  // the write to 0x90 signalled, did not exit

  std::thread signaller([&] {
    usleep(20000);  // let the vCPU block in HLT first
    uint64_t one = 1;
    EXPECT_EQ(write(irq.fd, &one, sizeof one), 8);
  });
  Result r = v->ioctl(KVM_RUN, 0UL);
  signaller.join();
  ASSERT_EQ(r.ret, 0) << errno_string(r.err);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
  EXPECT_EQ(run->io.port, 0x81);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(run)[run->io.data_offset], 0x42);
  EXPECT_EQ(irq.take(), 0u);  // the irqfd consumed the counter
}

// A real-mode machine with the irqchip, 1 MiB of RAM and vCPU 0 at 0x7c00
// running `code`, with IVT[vector] -> 0000:0x7d00 running `handler`.
struct PicMachine {
  PicMachine(const Backend& b, const uint8_t* code, size_t n, const uint8_t* handler, size_t hn,
             uint8_t vector)
      : vm(b) {
    if (!vm.error().empty()) {
      why = vm.error();
      return;
    }
    Result r = vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL);
    if (r.ret != 0) {
      why = "KVM_CREATE_IRQCHIP: " + errno_string(r.err);
      return;
    }
    ram = vm.add_ram(0, 0, 0x100000, 0, &why);
    if (!ram) return;
    vcpu = vm.create_vcpu(0, &why);
    if (!vcpu) return;
    why = vcpu->set_supported_cpuid();
    if (!why.empty()) return;
    std::memcpy(ram + 0x7c00, code, n);
    std::memcpy(ram + 0x7d00, handler, hn);
    const uint16_t ivt[2] = {0x7d00, 0};
    std::memcpy(ram + vector * 4, ivt, sizeof ivt);
    why = vcpu->enter_mode(Mode::kReal, 0x7c00);
  }
  // KVM_RUN; the port of the KVM_EXIT_IO it must end with (-1 otherwise).
  int run_to_io() {
    Result r = vcpu->ioctl(KVM_RUN, 0UL);
    if (r.ret != 0 || vcpu->run()->exit_reason != KVM_EXIT_IO) return -1;
    return vcpu->run()->io.port;
  }
  Vm vm;
  std::string why;
  uint8_t* ram = nullptr;
  std::unique_ptr<Vcpu> vcpu;
};

// 0x7c00: PIC base 0x20, only IRQ 5 unmasked, ELCR makes IRQ 5 level;
//   out 0x80 (ready) ; sti ; .h: hlt ; jmp .h
constexpr uint8_t kLevelGuest[] = {0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21, 0xb0, 0x04,
                                   0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xdf, 0xe6, 0x21,
                                   0xb0, 0x20, 0xba, 0xd0, 0x04, 0xee, 0xe6, 0x80, 0xfb, 0xf4,
                                   0xeb, 0xfd};
// 0x7d00: out 0x81 ; EOI (out 0x20, 0x20) ; out 0x82 ; iret
constexpr uint8_t kLevelHandler[] = {0xe6, 0x81, 0xb0, 0x20, 0xe6, 0x20, 0xe6, 0x82, 0xcf};

TEST_P(IrqchipClient, ResampleIrqfdHoldsLevelUntilGuestEoiThenSignalsResamplefd) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  PicMachine m(b, kLevelGuest, sizeof kLevelGuest, kLevelHandler, sizeof kLevelHandler, 0x25);
  ASSERT_TRUE(m.why.empty()) << m.why;
  Efd irq, resample;
  kvm_irqfd f = irqfd(irq.fd, 5, KVM_IRQFD_FLAG_RESAMPLE, resample.fd);
  ASSERT_EQ(m.vm.vm_ioctl(KVM_IRQFD, &f).ret, 0);
  ASSERT_EQ(m.run_to_io(), 0x80);
  uint64_t one = 1;
  ASSERT_EQ(write(irq.fd, &one, sizeof one), 8);
  ASSERT_EQ(m.run_to_io(), 0x81);  // in the handler, before its EOI
  EXPECT_EQ(get_chip(m.vm, KVM_IRQCHIP_PIC_MASTER).chip.pic.irr & 0x20, 0x20);
  EXPECT_EQ(resample.take(), 0u);
  ASSERT_EQ(m.run_to_io(), 0x82);  // after the EOI
  EXPECT_EQ(resample.take(), 1u);
  EXPECT_EQ(get_chip(m.vm, KVM_IRQCHIP_PIC_MASTER).chip.pic.irr & 0x20, 0);
}

// 0x7c00: xor ax, ax ; mov ds, ax ; PIC base 0x20, only IRQ 0 unmasked ;
//   PIT channel 0 mode 2, count 1193 (1 ms) ; sti ;
//   .h: hlt ; cmp word [0x600], 10 ; jb .h ; out 0x83, al
constexpr uint8_t kPitGuest[] = {0x31, 0xc0, 0x8e, 0xd8, 0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6,
                                 0x21, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xfe,
                                 0xe6, 0x21, 0xb0, 0x34, 0xe6, 0x43, 0xb0, 0xa9, 0xe6, 0x40, 0xb0,
                                 0x04, 0xe6, 0x40, 0xfb, 0xf4, 0x83, 0x3e, 0x00, 0x06, 0x0a, 0x72,
                                 0xf8, 0xe6, 0x83};
// 0x7d00: inc word [0x600] ; EOI ; iret
constexpr uint8_t kPitHandler[] = {0xff, 0x06, 0x00, 0x06, 0xb0, 0x20, 0xe6, 0x20, 0xcf};

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}
uint64_t mono_ns() { return clock_ns(CLOCK_MONOTONIC); }
uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

TEST_P(IrqchipClient, PitMode2At1kHzDeliversTenIrq0TicksInAboutTenMs) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  PicMachine m(b, kPitGuest, sizeof kPitGuest, kPitHandler, sizeof kPitHandler, 0x20);
  ASSERT_TRUE(m.why.empty()) << m.why;
  kvm_pit_config cfg{};
  ASSERT_EQ(m.vm.vm_ioctl(KVM_CREATE_PIT2, &cfg).ret, 0);
  uint64_t t0 = mono_ns(), cpu0 = thread_cpu_ns();
  ASSERT_EQ(m.run_to_io(), 0x83);
  uint64_t dt = mono_ns() - t0, cpu = thread_cpu_ns() - cpu0;
  uint16_t ticks = 0;
  std::memcpy(&ticks, m.ram + 0x600, 2);
  // Ticks missed while the host was busy are reinjected back to back and
  // can land between the handler's IRET and the CMP: at least 10, never
  // more than the periods that elapsed.
  EXPECT_GE(ticks, 10);
  EXPECT_LE(ticks, dt / 999'848 + 1);
  EXPECT_GE(dt, 9'000'000u);    // 10 periods of 838 ns * 1193
  EXPECT_LT(dt, 500'000'000u);  // and not starved
  EXPECT_LT(cpu, dt / 2) << "the vCPU thread spun instead of sleeping in HLT";
}

// 32-bit flat protected mode at 0x10000, IDTR at 0x5ff0:
//   lidt [0x5ff0] ; SPIV = 0x1ff
//   IOAPIC pin 17: IOREGSEL 0x33 / IOWIN 0 (dest 0), IOREGSEL 0x32 /
//   IOWIN 0x8050 (level, fixed, vector 0x50, unmasked)
//   out 0x80, al (ready) ; sti ; .h: hlt ; jmp .h
constexpr uint8_t kIoapicGuest[] = {
    0x0f, 0x01, 0x1d, 0xf0, 0x5f, 0x00, 0x00, 0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff,
    0x01, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x00, 0xc0, 0xfe, 0x33, 0x00, 0x00, 0x00, 0xc7,
    0x05, 0x10, 0x00, 0xc0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x00, 0xc0,
    0xfe, 0x32, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe, 0x50, 0x80, 0x00,
    0x00, 0xe6, 0x80, 0xfb, 0xf4, 0xeb, 0xfd};
// Handler at 0x10100 (no IRET, which the host's emulator cannot do here):
//   out 0x81, al ; mov dword [APIC+0xb0], 0 (EOI) ; out 0x82, al ; hlt
constexpr uint8_t kIoapicHandler[] = {0xe6, 0x81, 0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe,
                                      0x00, 0x00, 0x00, 0x00, 0xe6, 0x82, 0xf4};

uint64_t redir(Vm& vm, unsigned pin) {
  return get_chip(vm, KVM_IRQCHIP_IOAPIC).chip.ioapic.redirtbl[pin].bits;
}

TEST_P(IrqchipClient, IoapicLevelPinHoldsRemoteIrrUntilEoiThenRedeliversWhileAsserted) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  ASSERT_EQ(vm.vm_ioctl(KVM_CREATE_IRQCHIP, 0UL).ret, 0);
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  auto v = vm.create_vcpu(0, &why);
  ASSERT_TRUE(v) << why;
  ASSERT_EQ(v->set_supported_cpuid(), "");
  std::memcpy(ram + 0x10000, kIoapicGuest, sizeof kIoapicGuest);
  std::memcpy(ram + 0x10100, kIoapicHandler, sizeof kIoapicHandler);
  const uint16_t idtr[3] = {0x7ff, 0x6000, 0};
  std::memcpy(ram + 0x5ff0, idtr, sizeof idtr);
  // SDM Vol. 3A, 6.11: 32-bit interrupt gate, selector 0x08, offset 0x10100.
  const uint32_t gate[2] = {0x00080000u | 0x0100u, 0x00018e00u};
  std::memcpy(ram + 0x6000 + 0x50 * 8, gate, sizeof gate);
  ASSERT_EQ(v->enter_mode(Mode::kProt32, 0x10000), "");
  kvm_run* run = v->run();
  auto run_to_io = [&] {
    Result r = v->ioctl(KVM_RUN, 0UL);
    return r.ret == 0 && run->exit_reason == KVM_EXIT_IO ? int{run->io.port} : -1;
  };
  constexpr uint64_t kRemoteIrr = 1ull << 14;
  ASSERT_EQ(run_to_io(), 0x80);
  EXPECT_EQ(redir(vm, 17), 0x8050u);
  EXPECT_EQ(line_status(vm, 17, 1), 1);  // one LAPIC accepted it
  EXPECT_EQ(redir(vm, 17) & kRemoteIrr, kRemoteIrr);
  ASSERT_EQ(run_to_io(), 0x81);           // in the handler
  EXPECT_EQ(line_status(vm, 17, 1), -1);  // remote IRR blocks a new message
  ASSERT_EQ(run_to_io(), 0x82);           // after the EOI: re-delivered
  EXPECT_EQ(redir(vm, 17) & kRemoteIrr, kRemoteIrr);
  EXPECT_EQ(line_status(vm, 17, 0), 1);
  EXPECT_EQ(get_chip(vm, KVM_IRQCHIP_IOAPIC).chip.ioapic.irr, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kvm, IrqchipClient, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace
}  // namespace skvm::test
