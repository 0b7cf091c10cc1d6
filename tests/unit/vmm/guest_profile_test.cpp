// --guest-profile: System.map / kallsyms parsing, address → function, and
// the per-function histogram.
#include <gtest/gtest.h>

#include <string>

#include "vmm/guest_profile.h"

namespace skvm::vmm {
namespace {

constexpr const char* kMap =
    "0000000000000000 A fixed_percpu_data\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81000100 t helper\n"
    "ffffffff81000200 T mpihelp_addmul_1\n"
    "ffffffff81000300 D some_data\n"
    "ffffffff81000400 W weak_fn\n"
    "ffffffff81000500 T _etext\n"
    "garbage line\n"
    "zzzz T bad_address\n"
    "ffffffffa0000000 t module_fn\t[virtio_blk]\n";

TEST(SymbolMap, NamesTheTextSymbolAtOrBelowTheAddress) {
  const SymbolMap map = SymbolMap::parse(kMap);
  EXPECT_EQ(map.name_of(0xffffffff81000000), "_text");
  EXPECT_EQ(map.name_of(0xffffffff81000150), "helper");
  EXPECT_EQ(map.name_of(0xffffffff810002ff), "mpihelp_addmul_1");
  // Data symbols are skipped: the function before them owns the range.
  EXPECT_EQ(map.name_of(0xffffffff81000310), "mpihelp_addmul_1");
  EXPECT_EQ(map.name_of(0xffffffff81000410), "weak_fn");
}

TEST(SymbolMap, AddressesOutsideTheKernelTextHaveNoName) {
  const SymbolMap map = SymbolMap::parse(kMap);
  EXPECT_EQ(map.name_of(0x401000), "");              // below the first text symbol
  EXPECT_EQ(map.name_of(0xffffffff81000600), "");   // past _etext (modules live there)
  EXPECT_EQ(map.size(), 6u);                         // 5 text symbols + module_fn; bad lines skipped
}

TEST(GuestProfile, GroupsSamplesByFunctionMostFirst) {
  const SymbolMap map = SymbolMap::parse(kMap);
  GuestProfile p;
  for (int i = 0; i < 3; ++i) p.add(0xffffffff81000210 + i);
  p.add(0xffffffff81000100);
  p.add(0x401000);
  p.add(0x401004);
  p.add(0xffffffffa0000010);
  EXPECT_EQ(p.total(), 7u);
  const auto rows = p.by_function(map);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::pair<std::string, uint64_t>{"mpihelp_addmul_1", 3}));
  EXPECT_EQ(rows[1], (std::pair<std::string, uint64_t>{"[user]", 2}));
  // Ties sort by name.
  EXPECT_EQ(rows[2], (std::pair<std::string, uint64_t>{"[module or unknown]", 1}));
  EXPECT_EQ(rows[3], (std::pair<std::string, uint64_t>{"helper", 1}));
}

}  // namespace
}  // namespace skvm::vmm
