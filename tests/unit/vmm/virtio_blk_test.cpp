// virtio-blk over virtio-mmio: registers, split-virtqueue requests (read,
// write, flush, get-id, out of range), the used ring and the interrupt.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "vmm/virtio_blk.h"

namespace skvm::vmm {
namespace {

constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000;
constexpr uint64_t kHeader = 0x4000, kData = 0x5000, kStatus = 0x6000;

class VirtioBlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_ = memfd_create("disk", 0);
    ASSERT_GE(fd_, 0);
    std::vector<uint8_t> disk(64 * 512);
    for (size_t i = 0; i < disk.size(); ++i) disk[i] = static_cast<uint8_t>(i / 512);
    ASSERT_EQ(pwrite(fd_, disk.data(), disk.size(), 0), static_cast<ssize_t>(disk.size()));
    dev_ = std::make_unique<VirtioMmioBlock>(GuestMemory{ram_.data(), ram_.size()}, fd_, disk.size(), false, "skvm-disk");
    dev_->set_irq_callback([this](bool level) { levels_.push_back(level); });
    // 3.1.1 driver initialisation: reset, ACK, DRIVER, features, FEATURES_OK, queue, DRIVER_OK.
    w(0x070, 0);
    w(0x070, 1 | 2);
    w(0x024, 1);
    w(0x020, 1);  // VIRTIO_F_VERSION_1
    w(0x070, 1 | 2 | 8);
    w(0x030, 0);
    w(0x038, 8);
    w(0x080, kDesc);
    w(0x090, kAvail);
    w(0x0a0, kUsed);
    w(0x044, 1);
    w(0x070, 1 | 2 | 4 | 8);
  }
  void TearDown() override { close(fd_); }

  uint32_t r(uint64_t off) {
    uint8_t b[4];
    dev_->read(off, b, 4);
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  void w(uint64_t off, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev_->write(off, b, 4);
  }
  template <typename T>
  void put(uint64_t a, T v) { std::memcpy(&ram_[a], &v, sizeof v); }
  template <typename T>
  T get(uint64_t a) { T v; std::memcpy(&v, &ram_[a], sizeof v); return v; }
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    put<uint64_t>(kDesc + 16 * i, addr);
    put<uint32_t>(kDesc + 16 * i + 8, len);
    put<uint16_t>(kDesc + 16 * i + 12, flags);
    put<uint16_t>(kDesc + 16 * i + 14, next);
  }
  // Submits header | data (len, device-writable when `in`) | status; returns the status byte.
  uint8_t submit(uint32_t type, uint64_t sector, uint32_t len, bool in) {
    put<uint32_t>(kHeader, type);
    put<uint64_t>(kHeader + 8, sector);
    put<uint8_t>(kStatus, 0xff);
    desc(0, kHeader, 16, 1, 1);
    desc(1, kData, len, static_cast<uint16_t>(1 | (in ? 2 : 0)), 2);
    desc(2, kStatus, 1, 2, 0);
    const uint16_t idx = get<uint16_t>(kAvail + 2);
    put<uint16_t>(kAvail + 4 + 2 * (idx % 8), 0);
    put<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1));
    w(0x050, 0);
    return get<uint8_t>(kStatus);
  }

  std::vector<uint8_t> ram_ = std::vector<uint8_t>(1 << 20);
  int fd_ = -1;
  std::unique_ptr<VirtioMmioBlock> dev_;
  std::vector<bool> levels_;
};

TEST_F(VirtioBlkTest, IdentifiesAsModernBlockDeviceWithCapacityInSectors) {
  EXPECT_EQ(r(0x000), 0x74726976u);
  EXPECT_EQ(r(0x004), 2u);
  EXPECT_EQ(r(0x008), 2u);
  w(0x014, 1);
  EXPECT_EQ(r(0x010) & 1, 1u);  // VIRTIO_F_VERSION_1 (bit 32)
  EXPECT_EQ(r(0x100), 64u);
  EXPECT_EQ(r(0x034), VirtioMmioBlock::kQueueSize);
}

TEST_F(VirtioBlkTest, ReadRequestFillsBufferAndUsedRingAndRaisesInterrupt) {
  EXPECT_EQ(submit(0, 3, 1024, true), 0);
  EXPECT_EQ(ram_[kData], 3);
  EXPECT_EQ(ram_[kData + 1023], 4);
  EXPECT_EQ(get<uint16_t>(kUsed + 2), 1);
  EXPECT_EQ(get<uint32_t>(kUsed + 4), 0u);         // id = head
  EXPECT_EQ(get<uint32_t>(kUsed + 8), 1024u + 1);  // data + status byte
  EXPECT_EQ(r(0x060), 1u);
  EXPECT_EQ(levels_, (std::vector<bool>{true}));
  w(0x064, 1);
  EXPECT_EQ(levels_, (std::vector<bool>{true, false}));
}

TEST_F(VirtioBlkTest, WriteRequestReachesTheDiskFile) {
  std::memset(&ram_[kData], 0xab, 512);
  EXPECT_EQ(submit(1, 7, 512, false), 0);
  uint8_t b = 0;
  ASSERT_EQ(pread(fd_, &b, 1, 7 * 512), 1);
  EXPECT_EQ(b, 0xab);
}

TEST_F(VirtioBlkTest, FlushAndGetIdSucceed) {
  EXPECT_EQ(submit(4, 0, 0, false), 0);
  EXPECT_EQ(submit(8, 0, 20, true), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(&ram_[kData]), "skvm-disk");
}

TEST_F(VirtioBlkTest, ReadBeyondCapacityIsAnIoError) {
  EXPECT_EQ(submit(0, 63, 1024, true), 1);
}

TEST_F(VirtioBlkTest, UnknownRequestTypeIsUnsupported) {
  EXPECT_EQ(submit(11, 0, 512, false), 2);
}

TEST_F(VirtioBlkTest, StatusZeroResetsTheQueue) {
  w(0x070, 0);
  EXPECT_EQ(r(0x070), 0u);
  EXPECT_EQ(r(0x044), 0u);
}

}  // namespace
}  // namespace skvm::vmm
