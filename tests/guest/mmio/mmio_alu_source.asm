; An ALU instruction with an MMIO source operand: the read exit is
; completed with the client's data, then ADD retires with its flags; a
; read-modify-write (ADD [mmio], reg) reads, then writes.
; SDM Vol. 2A, ADD; api.rst KVM_EXIT_MMIO.
; mode: long
; mmio-in: data=ff ff ff 7f 01 00 00 00
; expect-mmio: read gpa=0xc0040 len=4
; expect-mmio: read gpa=0xc0080 len=4
; expect-mmio: write gpa=0xc0080 len=4 data=03 00 00 00
; expect: rax=0x80000000 rbx=2 r8=0x896
; expect-exit: hlt
bits 64
org 0x10000
  mov eax, 1
  add eax, [0xc0040]           ; 1 + 0x7fffffff: OF SF AF PF
  pushfq
  pop r8
  mov ebx, 2
  add [0xc0080], ebx           ; 1 + 2 written back
  hlt
