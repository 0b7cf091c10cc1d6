; MMIO from real mode through a segment (0xc000:0x20 = gpa 0xc0020): a
; write, then a read completed with the client's data.
; api.rst KVM_EXIT_MMIO.
; mode: real
; mmio-in: data=34 12
; expect-mmio: write gpa=0xc0020 len=2 data=00 c0
; expect-mmio: read gpa=0xc0030 len=2
; expect: rax=0xc000 rbx=0x1234
; expect-exit: hlt
bits 16
org 0x7c00
  mov ax, 0xc000
  mov ds, ax
  mov [0x20], ax
  mov bx, [0x30]
  hlt
