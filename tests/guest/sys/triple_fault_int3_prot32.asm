; INT3 in protected mode with an empty IDT (limit 0): the gate is beyond
; the limit (#GP), as are #GP and #DF: triple fault, KVM_EXIT_SHUTDOWN.
; SDM Vol. 3A, 6.15 (interrupt 8); api.rst KVM_EXIT_SHUTDOWN.
; The host's KVM cannot emulate INT3 outside real mode (it answers
; KVM_EXIT_INTERNAL_ERROR), so this guest runs on softkvm only.
; backends: soft
; mode: prot32
; expect: rax=0x43
; expect-exit: shutdown
bits 32
org 0x10000
  lidt [idtr]
  mov eax, 0x43
  int3
  hlt
idtr:
  dw 0
  dd 0
