; #UD with an empty IDT (limit 0) cannot be delivered: #DF cannot either,
; so the CPU shuts down: KVM_EXIT_SHUTDOWN.
; SDM Vol. 3A, 6.15 (interrupt 8, double fault: triple fault); api.rst KVM_EXIT_SHUTDOWN.
; mode: long
; expect: rax=0x42
; expect-exit: shutdown
bits 64
org 0x10000
  lidt [rel idtr]
  mov eax, 0x42
  ud2
  hlt
idtr:
  dw 0
  dq 0
