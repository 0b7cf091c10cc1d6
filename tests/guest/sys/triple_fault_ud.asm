; #UD with an empty IDT (limit 0) cannot be delivered: #DF cannot either,
; so the CPU shuts down: KVM_EXIT_SHUTDOWN.
; SDM Vol. 3A, 6.15 (interrupt 8, double fault: triple fault); api.rst KVM_EXIT_SHUTDOWN.
; mode: long
; KVM sets RFLAGS.RF when it injects a fault-class exception (x86.c
; inject_pending_event: "Fault-class exceptions, except #DBs, set RF=1"), so
; the state read after the shutdown has RF (0x10000) set.
; expect: rax=0x42 rflags=0x10002
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
