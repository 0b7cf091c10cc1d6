; A 4-byte store straddling two unbacked pages (0xc0ffe..0xc1001) and a
; 4-byte store straddling RAM and unbacked memory (0xbfffe..0xc0001).
; api.rst KVM_EXIT_MMIO; arch/x86/kvm/x86.c emulator_read_write (split at
; the page boundary, one exit per piece that is not RAM).
; mode: long
; expect-mmio: write gpa=0xc0ffe len=2 data=44 33
; expect-mmio: write gpa=0xc1000 len=2 data=22 11
; expect-mmio: write gpa=0xc0000 len=2 data=bb aa
; expect-mem: 0xbfffe = dd cc
; expect-exit: hlt
bits 64
org 0x10000
  mov dword [0xc0ffe], 0x11223344
  mov dword [0xbfffe], 0xaabbccdd
  hlt
