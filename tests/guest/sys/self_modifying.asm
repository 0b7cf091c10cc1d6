; Self-modifying code: the guest patches the immediate of an instruction
; it already executed once (in a loop) and of the very next instruction;
; both new values must be seen. SDM Vol. 3A, 11.6 (self-modifying code).
; mode: long
; expect: rax=0x42 rbx=0x99 rcx=2
; expect-exit: hlt
bits 64
org 0x10000
  xor ecx, ecx
again:
  inc ecx
loaded:
  mov eax, 0x11                ; second pass: 0x42
  cmp ecx, 2
  je next
  mov byte [rel loaded + 1], 0x42
  jmp again
next:
  mov byte [rel following + 1], 0x99
following:
  mov bl, 0x00
  hlt
