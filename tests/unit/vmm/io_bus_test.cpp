// The VMM's port-I/O devices: COM1 output, the UART's status registers,
// isa-debug-exit and unhandled ports.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "vmm/exit_status.h"
#include "vmm/io_bus.h"

namespace skvm::vmm {
namespace {

// A FILE* writing into memory (no file system, no terminal).
class MemoryStream {
 public:
  MemoryStream() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryStream() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

TEST(IoBus, ByteWrittenToCom1ThrAppearsOnConsole) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t data[] = {'h', 'i'};
  EXPECT_FALSE(bus.handle(false, 0x3f8, 1, 1, &data[0]));
  EXPECT_FALSE(bus.handle(false, 0x3f8, 1, 1, &data[1]));
  EXPECT_EQ(console.text(), "hi");
  EXPECT_EQ(bus.uart().bytes_transmitted(), 2u);
}

TEST(IoBus, RepOutsbToCom1WritesEveryByteInOrder) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t data[] = {'a', 'b', 'c'};
  EXPECT_FALSE(bus.handle(false, 0x3f8, 1, 3, data));
  EXPECT_EQ(console.text(), "abc");
}

TEST(IoBus, LineStatusRegisterReportsTransmitterEmpty) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t value = 0;
  bus.handle(true, 0x3fd, 1, 1, &value);
  EXPECT_EQ(value, 0x60);
}

TEST(IoBus, InterruptIdentificationReadsNoInterruptPending) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t value = 0;
  bus.handle(true, 0x3fa, 1, 1, &value);
  EXPECT_EQ(value, 0x01);
}

TEST(IoBus, WriteToThrWithDlabSetProgramsDivisorNotConsole) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t lcr = 0x83;  // DLAB | 8N1
  bus.handle(false, 0x3fb, 1, 1, &lcr);
  uint8_t divisor = 0x01;
  bus.handle(false, 0x3f8, 1, 1, &divisor);
  uint8_t read_back = 0;
  bus.handle(true, 0x3f8, 1, 1, &read_back);
  EXPECT_EQ(read_back, 0x01);
  EXPECT_EQ(console.text(), "");
}

TEST(IoBus, ScratchRegisterReadsBackWhatWasWritten) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t value = 0xa5;
  bus.handle(false, 0x3ff, 1, 1, &value);
  value = 0;
  bus.handle(true, 0x3ff, 1, 1, &value);
  EXPECT_EQ(value, 0xa5);
}

TEST(IoBus, DebugExitByteWriteReturnsQemuStatus) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t value = 0x2a;
  const auto status = bus.handle(false, IoBus::kDebugExitPort, 1, 1, &value);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 85);
}

TEST(IoBus, DebugExitDwordWriteUsesTheWholeValue) {
  MemoryStream console;
  IoBus bus(console.file(), nullptr);
  uint8_t value[4] = {0x01, 0x00, 0x00, 0x00};
  const auto status = bus.handle(false, IoBus::kDebugExitPort, 4, 1, value);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 3);
}

TEST(ExitStatus, DebugExitStatusKeepsTheLowEightBits) {
  EXPECT_EQ(debug_exit_status(0), 1);
  EXPECT_EQ(debug_exit_status(0x7f), 255);
  EXPECT_EQ(debug_exit_status(0x80), 1);
}

TEST(IoBus, UnhandledPortReadsAllOnesAndIsTraced) {
  MemoryStream console;
  MemoryStream trace;
  IoBus bus(console.file(), trace.file());
  uint8_t value[2] = {0, 0};
  EXPECT_FALSE(bus.handle(true, 0x80, 2, 1, value));
  EXPECT_EQ(value[0], 0xff);
  EXPECT_EQ(value[1], 0xff);
  EXPECT_NE(trace.text().find("unhandled in  port 0x0080"), std::string::npos);
}

TEST(IoBus, UnhandledPortWriteIsIgnoredAndTraced) {
  MemoryStream console;
  MemoryStream trace;
  IoBus bus(console.file(), trace.file());
  uint8_t value = 0x12;
  EXPECT_FALSE(bus.handle(false, 0x70, 1, 1, &value));
  EXPECT_EQ(console.text(), "");
  EXPECT_NE(trace.text().find("unhandled out port 0x0070 <- 0x12"), std::string::npos);
}

}  // namespace
}  // namespace skvm::vmm
