; A KVM_MEM_READONLY slot reads as memory (no exit) and a write to it is a
; KVM_EXIT_MMIO write that leaves the memory unchanged.
; api.rst KVM_SET_USER_MEMORY_REGION (KVM_MEM_READONLY).
; mode: long
; readonly-slot: yes
; expect-mmio: write gpa=0xf0010 len=1 data=11
; expect: rax=0xa5 rbx=0xa5
; expect-exit: hlt
bits 64
org 0x10000
  movzx eax, byte [0xf0000]
  mov byte [0xf0010], 0x11
  movzx ebx, byte [0xf0010]
  hlt
