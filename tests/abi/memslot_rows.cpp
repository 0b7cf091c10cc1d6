// KVM_SET_USER_MEMORY_REGION, every rule of api.rst 4.35 and
// virt/kvm/kvm_main.c:kvm_set_memory_region(): alignment, flags, slot and
// address-space ids, overlap, delete, move, resize, READONLY toggling.
// Setup registers slot 0 at 0x100000 (64 KiB); saved[0] is its host address.
#include "abi_row.h"

namespace skvm::test {
namespace {

constexpr uint64_t kGpa = 0x100000;
constexpr uint64_t kSize = 0x10000;

unsigned long region(AbiContext& c, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
                     uint64_t uaddr = 0) {
  auto* r = c.make<kvm_userspace_memory_region>();
  r->slot = slot;
  r->flags = flags;
  r->guest_phys_addr = gpa;
  r->memory_size = size;
  r->userspace_addr = uaddr ? uaddr : addr(c.host_memory(size ? size : 4096));
  return addr(r);
}

void slot0(AbiContext& c, uint32_t flags) {
  uint8_t* mem = c.host_memory(2 * kSize);
  c.saved[0] = addr(mem);
  c.must(c.set_region(0, kGpa, kSize, flags, c.saved[0]), "slot 0");
}
void slot0_plain(AbiContext& c) { slot0(c, 0); }

AbiRow set(const char* name, std::function<unsigned long(AbiContext&)> arg, int ret, int err,
           std::function<void(AbiContext&)> setup = slot0_plain) {
  return {name, FdKind::kVm, KVM_SET_USER_MEMORY_REGION, std::move(arg), ret, err, nullptr,
          std::move(setup)};
}

}  // namespace

std::vector<AbiRow> memslot_rows() {
  return {
      set("SetRegionValidSucceeds", [](AbiContext& c) { return region(c, 1, 0, 0x200000, kSize); },
          0, 0),
      set("SetRegionUnalignedGpaIsEINVAL",
          [](AbiContext& c) { return region(c, 1, 0, 0x200800, kSize); }, -1, EINVAL),
      set("SetRegionUnalignedSizeIsEINVAL",
          [](AbiContext& c) { return region(c, 1, 0, 0x200000, 0x1800); }, -1, EINVAL),
      set("SetRegionUnalignedUserAddrIsEINVAL",
          [](AbiContext& c) {
            return region(c, 1, 0, 0x200000, 0x1000,
                          addr(c.host_memory(0x2000)) + 0x10);
          },
          -1, EINVAL),
      set("SetRegionUnknownFlagIsEINVAL",
          [](AbiContext& c) { return region(c, 1, 0x80, 0x200000, kSize); }, -1, EINVAL),
      set("SetRegionReadonlyNewSlotSucceeds",
          [](AbiContext& c) { return region(c, 1, KVM_MEM_READONLY, 0x200000, kSize); }, 0, 0),
      set("SetRegionLastUserSlotSucceeds",
          [](AbiContext& c) { return region(c, 32763, 0, 0x200000, kSize); }, 0, 0),
      set("SetRegionSlotIdTooLargeIsEINVAL",
          [](AbiContext& c) { return region(c, 32764, 0, 0x200000, kSize); }, -1, EINVAL),
      set("SetRegionAddressSpace2IsEINVAL",
          [](AbiContext& c) { return region(c, (2u << 16) | 1, 0, 0x200000, kSize); }, -1, EINVAL),
      set("SetRegionGpaWrapsIsEINVAL",
          [](AbiContext& c) { return region(c, 1, 0, 0xfffffffffffff000ULL, 0x2000); }, -1, EINVAL),
      // More than KVM_MEM_MAX_NR_PAGES (2^31 - 1) pages.
      set("SetRegionTooManyPagesIsEINVAL",
          [](AbiContext& c) {
            return region(c, 1, 0, 0x200000, 1ULL << 44, addr(c.host_memory(4096)));
          },
          -1, EINVAL),
      set("SetRegionOverlapIsEEXIST",
          [](AbiContext& c) { return region(c, 1, 0, kGpa + 0x8000, kSize); }, -1, EEXIST),
      set("SetRegionSameRangeOtherSlotIsEEXIST",
          [](AbiContext& c) { return region(c, 1, 0, kGpa, kSize); }, -1, EEXIST),
      set("SetRegionAdjacentSucceeds",
          [](AbiContext& c) { return region(c, 1, 0, kGpa + kSize, kSize); }, 0, 0),
      set("SetRegionSameParametersAgainSucceeds",
          [](AbiContext& c) { return region(c, 0, 0, kGpa, kSize, c.saved[0]); }, 0, 0),
      set("SetRegionDeleteExistingSucceeds",
          [](AbiContext& c) { return region(c, 0, 0, kGpa, 0, c.saved[0]); }, 0, 0),
      set("SetRegionDeleteThenOverlapSucceeds",
          [](AbiContext& c) { return region(c, 1, 0, kGpa + 0x8000, kSize); }, 0, 0,
          [](AbiContext& c) {
            slot0_plain(c);
            c.must(c.set_region(0, kGpa, 0, 0, c.saved[0]), "delete slot 0");
          }),
      set("SetRegionDeleteUnregisteredIsEINVAL",
          [](AbiContext& c) { return region(c, 5, 0, 0, 0); }, -1, EINVAL),
      set("SetRegionMoveSucceeds",
          [](AbiContext& c) { return region(c, 0, 0, 0x400000, kSize, c.saved[0]); }, 0, 0),
      set("SetRegionMoveOntoOtherSlotIsEEXIST",
          [](AbiContext& c) { return region(c, 0, 0, 0x400000, kSize, c.saved[0]); }, -1, EEXIST,
          [](AbiContext& c) {
            slot0_plain(c);
            c.must(c.set_region(1, 0x400000, kSize, 0), "slot 1");
          }),
      set("SetRegionResizeIsEINVAL",
          [](AbiContext& c) { return region(c, 0, 0, kGpa, 2 * kSize, c.saved[0]); }, -1, EINVAL),
      set("SetRegionChangeUserAddrIsEINVAL",
          [](AbiContext& c) { return region(c, 0, 0, kGpa, kSize, c.saved[0] + kSize); }, -1,
          EINVAL),
      set("SetRegionReadonlyOnIsEINVAL",
          [](AbiContext& c) { return region(c, 0, KVM_MEM_READONLY, kGpa, kSize, c.saved[0]); }, -1,
          EINVAL),
      set("SetRegionReadonlyOffIsEINVAL",
          [](AbiContext& c) { return region(c, 0, 0, kGpa, kSize, c.saved[0]); }, -1, EINVAL,
          [](AbiContext& c) { slot0(c, KVM_MEM_READONLY); }),
      set("SetRegionDirtyLoggingToggleSucceeds",
          [](AbiContext& c) {
            return region(c, 0, KVM_MEM_LOG_DIRTY_PAGES, kGpa, kSize, c.saved[0]);
          },
          0, 0),
      set("SetRegionBadPointerIsEFAULT", [](AbiContext&) { return 8UL; }, -1, EFAULT),
  };
}

}  // namespace skvm::test
