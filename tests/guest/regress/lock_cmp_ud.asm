; LOCK CMP raises #UD: CMP is not a lockable instruction (SDM Vol. 2A, LOCK),
; although it shares the ALU group's encodings. No IDT: the #UD becomes a
; triple fault. Found by the differential fuzzer (tests/fuzz, vs the host
; CPU and /dev/kvm); fixed in exec/alu.h.
; mode: long
; expect-exit: shutdown
bits 64
org 0x10000
  mov rbx, 0x11000
  cmp byte [rbx], 1            ; unlocked: fine
  db 0xf0, 0x80, 0x3b, 0x01    ; lock cmp byte [rbx], 1: #UD
  mov rax, 1                   ; not reached
  hlt
