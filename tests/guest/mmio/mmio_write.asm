; Stores to unbacked guest-physical memory: KVM_EXIT_MMIO writes with the
; stored bytes (1, 4, 8 bytes). api.rst KVM_EXIT_MMIO.
; mode: long
; expect-mmio: write gpa=0xc0000 len=4 data=ef be ad de
; expect-mmio: write gpa=0xc0100 len=1 data=5a
; expect-mmio: write gpa=0xc0200 len=8 data=88 77 66 55 44 33 22 11
; expect-exit: hlt
bits 64
org 0x10000
  mov dword [0xc0000], 0xdeadbeef
  mov byte [0xc0100], 0x5a
  mov rax, 0x1122334455667788
  mov [0xc0200], rax
  hlt
