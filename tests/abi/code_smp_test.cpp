// Cross-modifying code between two vCPUs, on both backends (softkvm and
// the host /dev/kvm), each vCPU on its own thread (SDM Vol. 3A 8.1.3, the
// cross-modifying code protocol): the writer touches the code page first
// (so that it holds a writable translation of it before the page holds
// code), the executor runs a function on that page until it is decoded and
// cached, the writer patches the function's immediate and signals through
// memory, the executor executes CPUID (serializing) and calls the function
// again: it must return the new value. Every wait is a bounded loop; a
// timeout exits with port 0x12.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "vm.h"

namespace skvm::test {
namespace {

class CodeSmp : public testing::TestWithParam<const Backend*> {};

// F at 0x20000: mov eax, 1 ; ret
constexpr uint8_t kFunc[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3};
// Executor (32-bit flat protected mode at 0x10000):
//   mov ebx, 50000000 ; .a: pause ; cmp dword [0x9000], 1 ; je .go
//   dec ebx ; jnz .a ; out 0x12, al
//   .go: mov ecx, 16 ; .w: call 0x20000 ; dec ecx ; jnz .w
//   mov [0x9010], eax ; mov dword [0x9004], 1
//   mov ebx, 50000000 ; .s: pause ; cmp dword [0x9008], 1 ; je .p
//   dec ebx ; jnz .s ; out 0x12, al
//   .p: xor eax, eax ; cpuid ; call 0x20000 ; out 0x10, eax ; hlt
constexpr uint8_t kExecutor[] = {
    0xbb, 0x80, 0xf0, 0xfa, 0x02, 0xf3, 0x90, 0x83, 0x3d, 0x00, 0x90, 0x00, 0x00, 0x01, 0x74, 0x05, 0x4b,
    0x75, 0xf2, 0xe6, 0x12, 0xb9, 0x10, 0x00, 0x00, 0x00, 0xe8, 0xe1, 0xff, 0x00, 0x00, 0x49, 0x75, 0xf8,
    0xa3, 0x10, 0x90, 0x00, 0x00, 0xc7, 0x05, 0x04, 0x90, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xbb, 0x80,
    0xf0, 0xfa, 0x02, 0xf3, 0x90, 0x83, 0x3d, 0x08, 0x90, 0x00, 0x00, 0x01, 0x74, 0x05, 0x4b, 0x75, 0xf2,
    0xe6, 0x12, 0x31, 0xc0, 0x0f, 0xa2, 0xe8, 0xb1, 0xff, 0x00, 0x00, 0xe7, 0x10, 0xf4};
// Writer (32-bit flat protected mode at 0x11000):
//   mov byte [0x20800], 0x5a ; mov dword [0x9000], 1
//   mov ebx, 50000000 ; .s: pause ; cmp dword [0x9004], 1 ; je .p
//   dec ebx ; jnz .s ; out 0x12, al
//   .p: mov byte [0x20001], 2 ; mov dword [0x9008], 1 ; out 0x11, al ; hlt
constexpr uint8_t kWriter[] = {0xc6, 0x05, 0x00, 0x08, 0x02, 0x00, 0x5a, 0xc7, 0x05, 0x00, 0x90, 0x00,
                               0x00, 0x01, 0x00, 0x00, 0x00, 0xbb, 0x80, 0xf0, 0xfa, 0x02, 0xf3, 0x90,
                               0x83, 0x3d, 0x04, 0x90, 0x00, 0x00, 0x01, 0x74, 0x05, 0x4b, 0x75, 0xf2,
                               0xe6, 0x12, 0xc6, 0x05, 0x01, 0x00, 0x02, 0x00, 0x02, 0xc7, 0x05, 0x08,
                               0x90, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe6, 0x11, 0xf4};

TEST_P(CodeSmp, PatchByAnotherVcpuRunsAfterSerializingInstruction) {
  const Backend& b = *GetParam();
  SKVM_SKIP_IF_UNUSABLE(b);
  Vm vm(b);
  ASSERT_TRUE(vm.error().empty()) << vm.error();
  std::string why;
  uint8_t* ram = vm.add_ram(0, 0, 0x100000, 0, &why);
  ASSERT_NE(ram, nullptr) << why;
  std::vector<std::unique_ptr<Vcpu>> v;
  for (unsigned i = 0; i < 2; ++i) {
    auto c = vm.create_vcpu(i, &why);
    ASSERT_TRUE(c) << why;
    ASSERT_EQ(c->set_supported_cpuid(), "");
    v.push_back(std::move(c));
  }
  std::memcpy(ram + 0x20000, kFunc, sizeof kFunc);
  std::memcpy(ram + 0x10000, kExecutor, sizeof kExecutor);
  std::memcpy(ram + 0x11000, kWriter, sizeof kWriter);
  ASSERT_EQ(v[0]->enter_mode(Mode::kProt32, 0x10000), "");
  ASSERT_EQ(v[1]->enter_mode(Mode::kProt32, 0x11000), "");

  Result wr{};
  uint16_t writer_port = 0;
  std::thread writer([&] {
    wr = v[1]->ioctl(KVM_RUN, 0UL);
    if (v[1]->run()->exit_reason == KVM_EXIT_IO) writer_port = v[1]->run()->io.port;
  });
  Result r = v[0]->ioctl(KVM_RUN, 0UL);
  writer.join();
  kvm_run* run = v[0]->run();
  EXPECT_EQ(wr.ret, 0);
  EXPECT_EQ(writer_port, 0x11) << "0x12: the writer timed out waiting for the executor";
  EXPECT_EQ(r.ret, 0);
  ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
  ASSERT_EQ(run->io.port, 0x10) << "0x12: the executor timed out";
  uint32_t before = 0, after = 0;
  std::memcpy(&before, ram + 0x9010, 4);
  std::memcpy(&after, reinterpret_cast<uint8_t*>(run) + run->io.data_offset, 4);
  EXPECT_EQ(before, 1u);
  EXPECT_EQ(after, 2u) << "the executor ran the stale decode of the patched function";
}

INSTANTIATE_TEST_SUITE_P(Kvm, CodeSmp, testing::Values(&kSoft, &kHost),
                         [](const testing::TestParamInfo<const Backend*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace
}  // namespace skvm::test
