// The guest console on the host side: stdin feeds the console device's
// receiver (the UART, or the virtio console with --console virtio, through
// IoBus::receive_console) from a thread; when stdin is a terminal it
// is put in raw mode, restored on every exit path (normal return, exit(),
// fatal signals), and Ctrl-A x quits as in QEMU (Ctrl-A Ctrl-A sends Ctrl-A).
#pragma once

#include <atomic>
#include <thread>

#include "vmm/io_bus.h"

namespace skvm::vmm {

class Console {
 public:
  explicit Console(IoBus& bus) : bus_(bus) {}
  ~Console() { stop(); }
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Raw mode (if stdin is a tty) and the input thread.
  void start();
  void stop();

  // Restores the terminal state saved by start(); safe to call any time,
  // from any thread, more than once (async-signal-safe).
  static void restore_terminal();

  // The escape-key state machine, separated for tests: consumes one input
  // byte, returns true when the byte is to be passed to the guest; sets
  // `quit` on Ctrl-A x. `escape` is the state (Ctrl-A seen).
  static bool filter_byte(uint8_t byte, bool& escape, bool& quit);

 private:
  void input_loop();

  IoBus& bus_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool tty_ = false;
};

}  // namespace skvm::vmm
