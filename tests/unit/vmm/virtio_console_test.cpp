// virtio-console over virtio-mmio, and the shared transport/virtqueue code:
// identification, feature negotiation, transmitq → output, input →
// receiveq buffers, interrupt suppression, malformed rings, reset.
#include <gtest/gtest.h>
#include <stdio.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/io_bus.h"
#include "vmm/virtio_console.h"

namespace skvm::vmm {
namespace {

// Rings of queue 0 (port 0 receiveq), 1 (port 0 transmitq), 2 (control
// receiveq) and 3 (control transmitq), and buffers.
constexpr uint64_t kDesc[4] = {0x1000, 0x4000, 0xa000, 0xd000};
constexpr uint64_t kAvail[4] = {0x2000, 0x5000, 0xb000, 0xe000};
constexpr uint64_t kUsed[4] = {0x3000, 0x6000, 0xc000, 0xf000};
constexpr uint64_t kRxBuf = 0x8000, kTxBuf = 0x9000, kCtrlIn = 0x10000, kCtrlOut = 0x11000;
// <linux/virtio_console.h> control events.
constexpr uint16_t kDeviceReady = 0, kPortAdd = 1, kPortReady = 3, kConsolePort = 4, kPortOpen = 6;
constexpr uint32_t kNum = 8;

class VirtioConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = open_memstream(&out_buf_, &out_len_);
    ASSERT_NE(out_, nullptr);
    dev_ = std::make_unique<VirtioMmioConsole>(GuestMemory{ram_.data(), ram_.size()}, out_);
    dev_->set_irq_callback([this](bool level) { levels_.push_back(level); });
  }
  void TearDown() override {
    dev_.reset();
    std::fclose(out_);
    std::free(out_buf_);
  }
  // 3.1.1 driver initialisation: reset, ACK, DRIVER, features, FEATURES_OK,
  // queues, DRIVER_OK; with `multiport`, VIRTIO_CONSOLE_F_MULTIPORT and
  // four queues (as Linux does), else VERSION_1 only and two queues.
  void init_driver(bool multiport = false) {
    w(0x070, 0);
    w(0x070, 1 | 2);
    w(0x024, 0);
    w(0x020, multiport ? 2 : 0);
    w(0x024, 1);
    w(0x020, 1);  // VIRTIO_F_VERSION_1
    w(0x070, 1 | 2 | 8);
    for (uint32_t q = 0; q < (multiport ? 4u : 2u); ++q) {
      w(0x030, q);
      w(0x038, kNum);
      w(0x080, static_cast<uint32_t>(kDesc[q]));
      w(0x090, static_cast<uint32_t>(kAvail[q]));
      w(0x0a0, static_cast<uint32_t>(kUsed[q]));
      w(0x044, 1);
    }
    w(0x070, 1 | 2 | 4 | 8);
  }
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
  void desc(uint32_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    put<uint64_t>(kDesc[q] + 16 * i, addr);
    put<uint32_t>(kDesc[q] + 16 * i + 8, len);
    put<uint16_t>(kDesc[q] + 16 * i + 12, flags);
    put<uint16_t>(kDesc[q] + 16 * i + 14, next);
  }
  void make_available(uint32_t q, uint16_t head) {
    const uint16_t idx = get<uint16_t>(kAvail[q] + 2);
    put<uint16_t>(kAvail[q] + 4 + 2 * (idx % kNum), head);
    put<uint16_t>(kAvail[q] + 2, static_cast<uint16_t>(idx + 1));
  }
  // The guest sends `text` in one transmitq buffer (descriptor `i`).
  void send(const std::string& text, uint16_t i = 0) {
    std::memcpy(&ram_[kTxBuf + 256 * i], text.data(), text.size());
    desc(1, i, kTxBuf + 256 * i, static_cast<uint32_t>(text.size()), 0);
    make_available(1, i);
  }
  // Control messages (8 bytes: le32 id, le16 event, le16 value).
  void post_control_buffers(uint16_t count) {
    for (uint16_t i = 0; i < count; ++i) {
      desc(2, i, kCtrlIn + 16 * i, 8, kVirtqDescWrite);
      make_available(2, i);
    }
    w(VirtioMmioDevice::kRegQueueNotify, 2);
  }
  void send_control(uint32_t id, uint16_t event, uint16_t value) {
    const uint16_t slot = get<uint16_t>(kAvail[3] + 2) % kNum;
    put<uint32_t>(kCtrlOut + 16 * slot, id);
    put<uint16_t>(kCtrlOut + 16 * slot + 4, event);
    put<uint16_t>(kCtrlOut + 16 * slot + 6, value);
    desc(3, slot, kCtrlOut + 16 * slot, 8, 0);
    make_available(3, slot);
    w(VirtioMmioDevice::kRegQueueNotify, 3);
  }
  // The control messages the device has returned on the control receiveq.
  std::vector<std::array<uint32_t, 3>> received_control() {
    std::vector<std::array<uint32_t, 3>> msgs;
    for (uint16_t u = 0; u < get<uint16_t>(kUsed[2] + 2); ++u) {
      const uint32_t id = get<uint32_t>(kUsed[2] + 4 + 8 * (u % kNum));
      const uint64_t at = kCtrlIn + 16 * id;
      msgs.push_back({get<uint32_t>(at), get<uint16_t>(at + 4), get<uint16_t>(at + 6)});
    }
    return msgs;
  }
  std::string output() {
    std::fflush(out_);
    return std::string(out_buf_, out_len_);
  }

  std::vector<uint8_t> ram_ = std::vector<uint8_t>(1 << 20);
  char* out_buf_ = nullptr;
  size_t out_len_ = 0;
  std::FILE* out_ = nullptr;
  std::unique_ptr<VirtioMmioConsole> dev_;
  std::vector<bool> levels_;
};

TEST_F(VirtioConsoleTest, IdentifiesAsModernMultiportConsoleWithOnePort) {
  EXPECT_EQ(r(0x000), 0x74726976u);  // "virt"
  EXPECT_EQ(r(0x004), 2u);           // modern virtio-mmio
  EXPECT_EQ(r(0x008), 3u);           // console
  w(0x014, 0);
  EXPECT_EQ(r(0x010), 2u);  // F_MULTIPORT only: no F_SIZE, no F_EMERG_WRITE
  w(0x014, 1);
  EXPECT_EQ(r(0x010), 1u);  // VIRTIO_F_VERSION_1
  for (uint32_t q = 0; q < 4; ++q) {
    w(0x030, q);
    EXPECT_EQ(r(0x034), VirtioMmioConsole::kQueueSize) << "queue " << q;
  }
  w(0x030, 4);
  EXPECT_EQ(r(0x034), 0u);  // 4.2.2: no such queue
  EXPECT_EQ(r(0x100), 0u);  // cols, rows: no F_SIZE
  EXPECT_EQ(r(0x104), 1u);  // max_nr_ports
}

TEST_F(VirtioConsoleTest, FeaturesOkIsRefusedWithoutVersion1OrWithUnofferedBits) {
  w(0x070, 1 | 2);
  w(0x070, 1 | 2 | 8);  // no driver features at all: legacy, refused
  EXPECT_EQ(r(0x070) & 8, 0u);
  w(0x024, 0);
  w(0x020, 1u << 0);  // VIRTIO_CONSOLE_F_SIZE, not offered
  w(0x024, 1);
  w(0x020, 1);
  w(0x070, 1 | 2 | 8);
  EXPECT_EQ(r(0x070) & 8, 0u);
  w(0x024, 0);
  w(0x020, 0);
  w(0x070, 1 | 2 | 8);
  EXPECT_EQ(r(0x070) & 8, 8u);
}

TEST_F(VirtioConsoleTest, TransmitqBuffersReachTheOutputInOrderAndAreReturned) {
  init_driver();
  send("hello ", 0);
  send("world\n", 1);
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_EQ(output(), "hello world\n");
  EXPECT_EQ(get<uint16_t>(kUsed[1] + 2), 2);
  EXPECT_EQ(get<uint32_t>(kUsed[1] + 4), 0u);  // id = head 0
  EXPECT_EQ(get<uint32_t>(kUsed[1] + 12), 1u);  // id = head 1
  EXPECT_EQ(r(0x060), 1u);
  EXPECT_EQ(levels_, (std::vector<bool>{true}));
  w(0x064, 1);
  EXPECT_EQ(levels_, (std::vector<bool>{true, false}));
  EXPECT_EQ(dev_->bytes_transmitted(), 12u);
}

TEST_F(VirtioConsoleTest, ChainedTransmitBufferIsWrittenWhole) {
  init_driver();
  std::memcpy(&ram_[kTxBuf], "abc", 3);
  std::memcpy(&ram_[kTxBuf + 256], "def", 3);
  desc(1, 0, kTxBuf, 3, kVirtqDescNext, 1);
  desc(1, 1, kTxBuf + 256, 3, 0);
  make_available(1, 0);
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_EQ(output(), "abcdef");
}

TEST_F(VirtioConsoleTest, LineCallbackSeesCompleteLines) {
  std::vector<std::string> lines;
  dev_->set_line_callback([&](const std::string& l) { lines.push_back(l); });
  init_driver();
  send("Run /init as ");
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  send("init process\nnext", 1);
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_EQ(lines, (std::vector<std::string>{"Run /init as init process"}));
}

TEST_F(VirtioConsoleTest, NoInterruptWhenTheDriverSuppressesIt) {
  init_driver();
  put<uint16_t>(kAvail[1], 1);  // VIRTQ_AVAIL_F_NO_INTERRUPT
  send("quiet");
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_EQ(output(), "quiet");
  EXPECT_EQ(get<uint16_t>(kUsed[1] + 2), 1);
  EXPECT_EQ(r(0x060), 0u);
  EXPECT_TRUE(levels_.empty());
}

TEST_F(VirtioConsoleTest, InputIsHeldUntilTheDriverIsReady) {
  const uint8_t in[] = {'l', 's'};
  EXPECT_EQ(dev_->receive(in, 2), 0u);
  init_driver();
  EXPECT_EQ(dev_->receive(in, 2), 0u);  // no receive buffer posted yet
}

TEST_F(VirtioConsoleTest, InputFillsReceiveBuffersAndRaisesTheInterrupt) {
  init_driver();
  desc(0, 0, kRxBuf, 4, kVirtqDescWrite);
  desc(0, 1, kRxBuf + 0x100, 4, kVirtqDescWrite);
  make_available(0, 0);
  make_available(0, 1);
  w(VirtioMmioDevice::kRegQueueNotify, 0);
  const std::string in = "echo HI\n";
  EXPECT_EQ(dev_->receive(reinterpret_cast<const uint8_t*>(in.data()), in.size()), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&ram_[kRxBuf]), 4), "echo");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&ram_[kRxBuf + 0x100]), 4), " HI\n");
  EXPECT_EQ(get<uint16_t>(kUsed[0] + 2), 2);
  EXPECT_EQ(get<uint32_t>(kUsed[0] + 8), 4u);  // len of the first element
  EXPECT_EQ(levels_, (std::vector<bool>{true}));
  // Both buffers are used: more input waits.
  EXPECT_EQ(dev_->receive(reinterpret_cast<const uint8_t*>("x"), 1), 0u);
  EXPECT_EQ(dev_->bytes_received(), 8u);
}

TEST_F(VirtioConsoleTest, ShortInputUsesOneBufferWithItsLength) {
  init_driver();
  desc(0, 3, kRxBuf, 64, kVirtqDescWrite);
  make_available(0, 3);
  EXPECT_EQ(dev_->receive(reinterpret_cast<const uint8_t*>("a\r"), 2), 2u);
  EXPECT_EQ(get<uint32_t>(kUsed[0] + 4), 3u);  // id = head 3
  EXPECT_EQ(get<uint32_t>(kUsed[0] + 8), 2u);
}

TEST_F(VirtioConsoleTest, DescriptorLoopSetsNeedsResetInsteadOfHanging) {
  init_driver();
  desc(1, 0, kTxBuf, 1, kVirtqDescNext, 1);
  desc(1, 1, kTxBuf, 1, kVirtqDescNext, 0);
  make_available(1, 0);
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_EQ(r(0x070) & VirtioMmioDevice::kStatusNeedsReset, VirtioMmioDevice::kStatusNeedsReset);
  EXPECT_EQ(r(0x060) & 2, 2u);  // configuration change notification
  EXPECT_FALSE(dev_->driver_ok());
}

TEST_F(VirtioConsoleTest, RingOutsideRamSetsNeedsReset) {
  init_driver();
  w(0x030, 1);
  w(0x0a4, 1);  // used ring above 4 GiB
  send("x");
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  EXPECT_NE(r(0x070) & VirtioMmioDevice::kStatusNeedsReset, 0u);
}

TEST_F(VirtioConsoleTest, StatusZeroResetsQueuesAndLowersTheInterrupt) {
  init_driver();
  send("x");
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  ASSERT_TRUE(dev_->irq_level());
  w(0x070, 0);
  EXPECT_FALSE(dev_->irq_level());
  EXPECT_EQ(r(0x070), 0u);
  w(0x030, 1);
  EXPECT_EQ(r(0x044), 0u);
  EXPECT_EQ(levels_, (std::vector<bool>{true, false}));
}

TEST_F(VirtioConsoleTest, NotifyOfAQueueThatIsNotReadyDoesNothing) {
  send("x");
  w(VirtioMmioDevice::kRegQueueNotify, 1);
  w(VirtioMmioDevice::kRegQueueNotify, 7);
  EXPECT_EQ(output(), "");
}

TEST_F(VirtioConsoleTest, MultiportHandshakeAnnouncesPortZeroAsTheConsole) {
  init_driver(true);
  post_control_buffers(4);
  send_control(0xffffffff, kDeviceReady, 1);
  EXPECT_EQ(received_control(), (std::vector<std::array<uint32_t, 3>>{{0, kPortAdd, 0}}));
  send_control(0, kPortReady, 1);
  EXPECT_EQ(received_control(), (std::vector<std::array<uint32_t, 3>>{
                                    {0, kPortAdd, 0}, {0, kConsolePort, 1}, {0, kPortOpen, 1}}));
  EXPECT_EQ(get<uint16_t>(kUsed[3] + 2), 2);  // both guest messages returned
  EXPECT_FALSE(dev_->guest_open());
  send_control(0, kPortOpen, 1);
  EXPECT_TRUE(dev_->guest_open());
}

TEST_F(VirtioConsoleTest, MultiportInputWaitsForTheGuestToOpenThePort) {
  init_driver(true);
  post_control_buffers(4);
  send_control(0xffffffff, kDeviceReady, 1);
  desc(0, 0, kRxBuf, 16, kVirtqDescWrite);
  make_available(0, 0);
  send_control(0, kPortReady, 1);
  // Buffers posted, but Linux would discard data before hvc0 is hooked up.
  EXPECT_EQ(dev_->receive(reinterpret_cast<const uint8_t*>("ls\n"), 3), 0u);
  send_control(0, kPortOpen, 1);
  EXPECT_EQ(dev_->receive(reinterpret_cast<const uint8_t*>("ls\n"), 3), 3u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&ram_[kRxBuf]), 3), "ls\n");
}

TEST_F(VirtioConsoleTest, ControlMessagesWaitForControlBuffers) {
  init_driver(true);
  send_control(0xffffffff, kDeviceReady, 1);  // no control receive buffer yet
  EXPECT_TRUE(received_control().empty());
  post_control_buffers(1);
  EXPECT_EQ(received_control(), (std::vector<std::array<uint32_t, 3>>{{0, kPortAdd, 0}}));
}

TEST_F(VirtioConsoleTest, ResetClosesThePort) {
  init_driver(true);
  post_control_buffers(4);
  send_control(0, kPortOpen, 1);
  ASSERT_TRUE(dev_->guest_open());
  w(0x070, 0);
  EXPECT_FALSE(dev_->guest_open());
}

TEST(IoBusVirtioTest, ConsoleInputGoesToTheVirtioConsoleAndMmioIsDispatchedByWindow) {
  std::vector<uint8_t> ram(1 << 16);
  IoBus io(nullptr, nullptr);
  const GuestMemory mem{ram.data(), ram.size()};
  io.add_virtio_block(0xd0000000, std::make_unique<VirtioMmioBlock>(mem, -1, 4096, true, "d"));
  io.add_virtio_console(0xd0000200, std::make_unique<VirtioMmioConsole>(mem, stdout));
  uint8_t data[8] = {};
  ASSERT_TRUE(io.handle_mmio(0xd0000008, data, 4, false));
  EXPECT_EQ(data[0], 2);  // block
  ASSERT_TRUE(io.handle_mmio(0xd0000208, data, 4, false));
  EXPECT_EQ(data[0], 3);  // console
  EXPECT_FALSE(io.handle_mmio(0xd0000400, data, 4, false));
  // Not ready: the virtio console takes nothing, and the UART gets nothing.
  EXPECT_EQ(io.receive_console(reinterpret_cast<const uint8_t*>("a"), 1), 0u);
  EXPECT_EQ(io.uart().rx_pending(), 0u);
}

}  // namespace
}  // namespace skvm::vmm
