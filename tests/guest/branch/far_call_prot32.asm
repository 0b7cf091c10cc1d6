; Far CALL (ptr16:32) and far RET in flat 32-bit protected mode, plus a
; far return through a hand-built frame, all to the same code selector.
; SDM Vol. 2A, CALL (far); Vol. 2B, RET (far).
; mode: prot32
; expect: rax=0x111 rsp=0x80000 cs=0x08
; expect-exit: hlt
bits 32
org 0x10000
  xor eax, eax
  call 0x08:far_fn
  add eax, 0x10
  push dword 0x08
  push dword after
  retf
  mov eax, 0xbad
after:
  add eax, 0x100
  hlt
far_fn:
  add eax, 1
  retf
