// termios(3) raw mode (cfmakeraw), poll(2) on stdin.
#include "vmm/console.h"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "vmm/exit_status.h"

namespace skvm::vmm {
namespace {

constexpr uint8_t kCtrlA = 0x01;
struct termios g_saved_termios;
std::atomic<bool> g_termios_saved{false};

void restore_and_reraise(int sig) {
  Console::restore_terminal();
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void Console::restore_terminal() {
  if (g_termios_saved.exchange(false)) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
}

bool Console::filter_byte(uint8_t byte, bool& escape, bool& quit) {
  if (escape) {
    escape = false;
    if (byte == 'x' || byte == 'X') {
      quit = true;
      return false;
    }
    return byte == kCtrlA;  // Ctrl-A Ctrl-A: one Ctrl-A to the guest; others are dropped
  }
  if (byte == kCtrlA) {
    escape = true;
    return false;
  }
  return true;
}

void Console::start() {
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &g_saved_termios) == 0) {
    struct termios raw = g_saved_termios;
    cfmakeraw(&raw);
    raw.c_oflag |= OPOST | ONLCR;  // keep "\n" -> "\r\n" for the VMM's own messages
    g_termios_saved = true;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    tty_ = true;
    std::atexit(restore_terminal);
    for (int sig : {SIGTERM, SIGHUP, SIGQUIT, SIGINT, SIGSEGV, SIGABRT, SIGBUS}) signal(sig, restore_and_reraise);
  }
  thread_ = std::thread([this] { input_loop(); });
}

void Console::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  restore_terminal();
}

void Console::input_loop() {
  bool escape = false;
  uint8_t buf[256];
  size_t have = 0, used = 0;
  bool eof = false;
  useconds_t backoff = 1000;
  while (!stop_) {
    if (used < have) {
      // Feed what the console device will take; wait for the guest to read
      // the rest, polling less often the longer it does not (1 to 16 ms:
      // piped input waits for the whole boot).
      const size_t n = bus_.receive_console(buf + used, have - used);
      used += n;
      if (n == 0) {
        usleep(backoff);
        backoff = std::min<useconds_t>(backoff * 2, 16000);
      } else {
        backoff = 1000;
      }
      continue;
    }
    // End of input and all of it delivered: only the output flush is left.
    if (eof) {
      bus_.flush_console_output();
      usleep(50000);
      continue;
    }
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      // The UART flushes at each newline; a prompt has none: show it
      // within 50 ms.
      bus_.flush_console_output();
      continue;
    }
    uint8_t raw[256];
    const ssize_t n = read(STDIN_FILENO, raw, sizeof raw);
    if (n <= 0) {
      eof = true;  // the guest keeps running with no more input
      continue;
    }
    have = used = 0;
    for (ssize_t i = 0; i < n; ++i) {
      bool quit = false;
      if (!tty_) {
        buf[have++] = raw[i];
      } else if (filter_byte(raw[i], escape, quit)) {
        buf[have++] = raw[i];
      }
      if (quit) {
        std::fflush(stdout);
        restore_terminal();
        std::fprintf(stderr, "\nsoftkvm: terminated by Ctrl-A x\n");
        _exit(kExitUserQuit);
      }
    }
  }
}

}  // namespace skvm::vmm
